#include "template/interpreter.h"

#include <unordered_map>

#include "template/template_error.h"
#include "template/text.h"

namespace kiln::tmpl {
namespace {

struct Scope {
  std::shared_ptr<Scope> parent;
  std::unordered_map<std::string, Value> vars;
};
using ScopePtr = std::shared_ptr<Scope>;

ScopePtr child_of(const ScopePtr& parent) {
  auto s = std::make_shared<Scope>();
  s->parent = parent;
  return s;
}

enum class Flow { Normal, Break, Continue };

constexpr int kMaxCallDepth = 200;  // macro recursion guard (Python's limit is ~1000 frames)

// What an error message calls the construct at fault.
std::string describe(const Expr& e) {
  switch (e.kind) {
    case Expr::Kind::Attr: return "attribute '." + e.name + "'";
    case Expr::Kind::Item: return "subscript";
    case Expr::Kind::Slice: return "slice";
    case Expr::Kind::Call:
      if (e.a->kind == Expr::Kind::Name || e.a->kind == Expr::Kind::Attr) return "call of '" + e.a->name + "'";
      return "call";
    case Expr::Kind::Filter: return "filter '" + e.name + "'";
    case Expr::Kind::Test: return "test '" + e.name + "'";
    case Expr::Kind::Neg: return "unary '-'";
    case Expr::Kind::Pos: return "unary '+'";
    case Expr::Kind::Binary: return "operator '" + e.name + "'";
    case Expr::Kind::Compare: return "comparison";
    case Expr::Kind::Concat: return "operator '~'";
    case Expr::Kind::Dict: return "dict literal";
    default: return "expression";
  }
}

std::string describe(const Stmt& s) {
  switch (s.kind) {
    case Stmt::Kind::For: return "for loop";
    case Stmt::Kind::Set:
    case Stmt::Kind::SetBlock: return "set";
    case Stmt::Kind::Macro: return "macro '" + s.name + "'";
    case Stmt::Kind::CallBlock: return "call block";
    case Stmt::Kind::FilterBlock: return "filter block";
    case Stmt::Kind::With: return "with";
    default: return "statement";
  }
}

bool references_name(const Body& body, std::string_view name) {
  bool found = false;
  for_each_expr(body, [&](const Expr& e) { found = found || (e.kind == Expr::Kind::Name && e.name == name); });
  return found;
}

class Interpreter {
 public:
  Interpreter(const ObjectData& context, const Clock& clock) : context_(context), globals_(make_globals(clock)) {}

  // A macro holds its defining scope, which holds the macro: clear those
  // scopes when the render ends so the cycles are freed.
  ~Interpreter() {
    for (const auto& scope : closures_) scope->vars.clear();
  }

  std::string run(const Body& program) {
    std::string out;
    exec_body(program, std::make_shared<Scope>(), out);
    return out;
  }

 private:
  const ObjectData& context_;
  ObjectData globals_;
  int call_depth_ = 0;
  std::vector<ScopePtr> closures_;  // scopes captured by macros

  Value lookup(const std::string& name, const ScopePtr& scope) const {
    for (const Scope* s = scope.get(); s; s = s->parent.get()) {
      auto it = s->vars.find(name);
      if (it != s->vars.end()) return it->second;
    }
    if (const Value* v = context_.find(name)) return *v;
    if (const Value* v = globals_.find(name)) return *v;
    return Value::undefined(text::repr(name) + " is undefined");
  }

  // ---- statements ----
  Flow exec_body(const Body& body, const ScopePtr& scope, std::string& out) {
    for (const auto& s : body) {
      Flow flow = exec(*s, scope, out);
      if (flow != Flow::Normal) return flow;
    }
    return Flow::Normal;
  }

  Flow exec(const Stmt& s, const ScopePtr& scope, std::string& out) {
    try {
      return exec_inner(s, scope, out);
    } catch (const TemplateError&) {
      throw;
    } catch (const RaisedFailure& f) {
      throw TemplateRaised(f.what(), s.line, s.column);
    } catch (const EvalFailure& f) {
      throw TemplateError(describe(s) + ": " + f.what(), s.line, s.column);
    }
  }

  Flow exec_inner(const Stmt& s, const ScopePtr& scope, std::string& out) {
    switch (s.kind) {
      case Stmt::Kind::Text:
        out += s.text;
        return Flow::Normal;
      case Stmt::Kind::Print:
        out += to_str(eval(*s.expr, scope));
        return Flow::Normal;
      case Stmt::Kind::If:
        for (const auto& [condition, body] : s.branches)
          if (truthy(eval(*condition, scope))) return exec_body(body, scope, out);
        return exec_body(s.else_body, scope, out);
      case Stmt::Kind::For:
        exec_for(s, scope, out);
        return Flow::Normal;
      case Stmt::Kind::Set:
        assign(s.target, eval(*s.expr, scope), scope);
        return Flow::Normal;
      case Stmt::Kind::SetBlock: {
        std::string captured;
        exec_body(s.body, child_of(scope), captured);
        assign(s.target, apply_filter_chain(s.filters, Value(std::move(captured)), scope), scope);
        return Flow::Normal;
      }
      case Stmt::Kind::Macro:
        scope->vars[s.name] = make_macro(s, scope);
        return Flow::Normal;
      case Stmt::Kind::CallBlock:
        out += to_str(exec_call_block(s, scope));
        return Flow::Normal;
      case Stmt::Kind::FilterBlock: {
        std::string captured;
        exec_body(s.body, child_of(scope), captured);
        out += to_str(apply_filter_chain(s.filters, Value(std::move(captured)), scope));
        return Flow::Normal;
      }
      case Stmt::Kind::Break: return Flow::Break;
      case Stmt::Kind::Continue: return Flow::Continue;
      case Stmt::Kind::With: {
        auto inner = child_of(scope);
        std::vector<Value> values;
        for (const auto& [target, value] : s.assignments) values.push_back(eval(*value, scope));
        for (size_t i = 0; i < values.size(); ++i) assign(s.assignments[i].first, values[i], inner);
        return exec_body(s.body, inner, out);
      }
      case Stmt::Kind::Scope: return exec_body(s.body, scope, out);
    }
    return Flow::Normal;
  }

  void assign(const Target& target, const Value& value, const ScopePtr& scope) {
    switch (target.kind) {
      case Target::Kind::Name:
        scope->vars[target.name] = value;
        return;
      case Target::Kind::Tuple: {
        auto items = iterate(value);
        size_t want = target.items.size();
        if (items.size() < want)
          throw EvalFailure("not enough values to unpack (expected " + std::to_string(want) + ", got " +
                            std::to_string(items.size()) + ")");
        if (items.size() > want) throw EvalFailure("too many values to unpack (expected " + std::to_string(want) + ")");
        for (size_t i = 0; i < want; ++i) assign(target.items[i], items[i], scope);
        return;
      }
      case Target::Kind::NamespaceAttr: {
        Value ns = lookup(target.name, scope);
        if (!ns.is_namespace()) throw EvalFailure("cannot assign attribute on non-namespace object");
        if (!target.attr.empty() && target.attr[0] == '_')
          throw EvalFailure("Chat templates cannot store underscore-prefixed attributes on a namespace, but got " +
                            text::repr(target.attr) + ". Please rename the attribute.");
        ns.as_namespace()->set(target.attr, value);
        return;
      }
    }
  }

  static Value loop_object(const std::vector<Value>& items, size_t i) {
    const auto n = static_cast<int64_t>(items.size());
    const auto index0 = static_cast<int64_t>(i);
    ObjectData loop;
    loop.set("index0", Value(index0));
    loop.set("index", Value(index0 + 1));
    loop.set("revindex0", Value(n - index0 - 1));
    loop.set("revindex", Value(n - index0));
    loop.set("first", Value(i == 0));
    loop.set("last", Value(index0 == n - 1));
    loop.set("length", Value(n));
    loop.set("depth", Value(int64_t{1}));
    loop.set("depth0", Value(int64_t{0}));
    loop.set("previtem", i > 0 ? items[i - 1] : Value::undefined("there is no previous item"));
    loop.set("nextitem", index0 + 1 < n ? items[i + 1] : Value::undefined("there is no next item"));
    loop.set("cycle", Value::function("cycle", [index0](CallArgs& call) {
               if (call.positional.empty()) throw EvalFailure("no items for cycling given");
               return call.positional[static_cast<size_t>(index0) % call.positional.size()];
             }));
    return Value::dict(std::move(loop));
  }

  void exec_for(const Stmt& s, const ScopePtr& scope, std::string& out) {
    Value iterable = eval(*s.expr, scope);
    if (iterable.is_none()) throw EvalFailure("'NoneType' object is not iterable");
    std::vector<Value> items = iterate(iterable);
    if (s.condition) {  // `for x in xs if cond`: the loop sees only the kept items
      std::vector<Value> kept;
      for (const Value& item : items) {
        auto probe = child_of(scope);
        assign(s.target, item, probe);
        if (truthy(eval(*s.condition, probe))) kept.push_back(item);
      }
      items = std::move(kept);
    }
    for (size_t i = 0; i < items.size(); ++i) {
      auto iteration = child_of(scope);  // a fresh scope per iteration, as in Jinja
      assign(s.target, items[i], iteration);
      iteration->vars["loop"] = loop_object(items, i);
      if (exec_body(s.body, iteration, out) == Flow::Break) break;
    }
    if (items.empty()) exec_body(s.else_body, child_of(scope), out);
  }

  // ---- macros ----
  Value make_macro(const Stmt& macro, const ScopePtr& closure) {
    bool takes_varargs = references_name(macro.body, "varargs");
    bool takes_kwargs = references_name(macro.body, "kwargs");
    closures_.push_back(closure);
    return Value::function(macro.name, [this, &macro, closure, takes_varargs, takes_kwargs](CallArgs& call) {
      return call_macro(macro, closure, call, takes_varargs, takes_kwargs);
    });
  }

  Value call_macro(const Stmt& macro, const ScopePtr& closure, CallArgs& call, bool takes_varargs,
                   bool takes_kwargs) {
    if (call_depth_ >= kMaxCallDepth) throw EvalFailure("maximum recursion depth exceeded in macro calls");
    auto frame = child_of(closure);
    const size_t n = macro.params.size();
    const size_t first_default = n - macro.defaults.size();
    std::vector<bool> bound(n, false);
    std::vector<Value> extra_positional;
    for (size_t i = 0; i < call.positional.size(); ++i) {
      if (i < n) {
        frame->vars[macro.params[i]] = call.positional[i];
        bound[i] = true;
      } else if (takes_varargs) {
        extra_positional.push_back(call.positional[i]);
      } else {
        throw EvalFailure("macro '" + macro.name + "' takes not more than " + std::to_string(n) + " argument(s)");
      }
    }
    ObjectData extra_keywords;
    bool has_caller = false;
    for (const auto& [key, value] : call.keyword) {
      size_t i = 0;
      while (i < n && macro.params[i] != key) ++i;
      if (i < n) {
        if (bound[i]) throw EvalFailure("macro '" + macro.name + "' got multiple values for argument '" + key + "'");
        frame->vars[key] = value;
        bound[i] = true;
      } else if (key == "caller") {
        frame->vars["caller"] = value;
        has_caller = true;
      } else if (takes_kwargs) {
        extra_keywords.set(key, value);
      } else {
        throw EvalFailure("macro '" + macro.name + "' takes no keyword argument '" + key + "'");
      }
    }
    for (size_t i = 0; i < n; ++i) {
      if (bound[i]) continue;
      frame->vars[macro.params[i]] = i >= first_default ? eval(*macro.defaults[i - first_default], frame)
                                                        : Value::undefined("parameter " + text::repr(macro.params[i]) +
                                                                           " was not provided");
    }
    frame->vars["varargs"] = Value::tuple(std::move(extra_positional));
    frame->vars["kwargs"] = Value::dict(std::move(extra_keywords));
    if (!has_caller) frame->vars["caller"] = Value::undefined("'caller' is undefined");
    std::string out;
    ++call_depth_;
    try {
      exec_body(macro.body, frame, out);
    } catch (...) {
      --call_depth_;
      throw;
    }
    --call_depth_;
    return Value(std::move(out));
  }

  Value exec_call_block(const Stmt& s, const ScopePtr& scope) {
    const Expr& call_expr = *s.expr;
    Value callee = eval(*call_expr.a, scope);
    CallArgs args = eval_args(call_expr, scope);
    args.keyword.emplace_back("caller", make_macro(s, scope));
    try {
      return call_value(callee, args);
    } catch (const TemplateError&) {
      throw;
    } catch (const RaisedFailure& f) {
      throw TemplateRaised(f.what(), call_expr.line, call_expr.column);
    } catch (const EvalFailure& f) {
      throw TemplateError(describe(call_expr) + ": " + f.what(), call_expr.line, call_expr.column);
    }
  }

  // ---- expressions ----
  CallArgs eval_args(const Expr& e, const ScopePtr& scope) {
    CallArgs args;
    for (const auto& item : e.items) args.positional.push_back(eval(*item, scope));
    for (const auto& [key, value] : e.kwargs) args.keyword.emplace_back(key, eval(*value, scope));
    return args;
  }

  Value apply_filter_chain(const std::vector<ExprPtr>& chain, Value value, const ScopePtr& scope) {
    for (const auto& filter : chain) {
      CallArgs args = eval_args(*filter, scope);
      try {
        value = apply_filter(filter->name, value, args);
      } catch (const EvalFailure& f) {
        throw TemplateError(describe(*filter) + ": " + f.what(), filter->line, filter->column);
      }
    }
    return value;
  }

  Value eval(const Expr& e, const ScopePtr& scope) {
    try {
      return eval_inner(e, scope);
    } catch (const TemplateError&) {
      throw;
    } catch (const RaisedFailure& f) {
      throw TemplateRaised(f.what(), e.line, e.column);
    } catch (const EvalFailure& f) {
      throw TemplateError(describe(e) + ": " + f.what(), e.line, e.column);
    }
  }

  Value eval_inner(const Expr& e, const ScopePtr& scope) {
    switch (e.kind) {
      case Expr::Kind::Literal: return e.literal;
      case Expr::Kind::Name: return lookup(e.name, scope);
      case Expr::Kind::List:
      case Expr::Kind::Tuple: {
        std::vector<Value> items;
        for (const auto& item : e.items) items.push_back(eval(*item, scope));
        return e.kind == Expr::Kind::List ? Value::list(std::move(items)) : Value::tuple(std::move(items));
      }
      case Expr::Kind::Dict: {
        ObjectData data;
        for (size_t i = 0; i + 1 < e.items.size(); i += 2) {
          Value key = eval(*e.items[i], scope);
          if (!key.is_string()) throw EvalFailure("only string keys are supported in template dicts");
          data.set(key.as_string(), eval(*e.items[i + 1], scope));
        }
        return Value::dict(std::move(data));
      }
      case Expr::Kind::Attr: return get_attribute(eval(*e.a, scope), e.name);
      case Expr::Kind::Item: {
        Value target = eval(*e.a, scope);  // Python evaluates left to right
        return get_item(target, eval(*e.b, scope));
      }
      case Expr::Kind::Slice: {
        Value target = eval(*e.a, scope);
        Value bounds[3];
        for (int i = 0; i < 3; ++i) bounds[i] = e.items[i] ? eval(*e.items[i], scope) : Value(nullptr);
        return get_slice(target, bounds[0], bounds[1], bounds[2]);
      }
      case Expr::Kind::Call: {
        Value callee = eval(*e.a, scope);
        CallArgs args = eval_args(e, scope);
        return call_value(callee, args);
      }
      case Expr::Kind::Filter: {
        Value input = eval(*e.a, scope);
        CallArgs args = eval_args(e, scope);
        return apply_filter(e.name, input, args);
      }
      case Expr::Kind::Test: {
        Value input = eval(*e.a, scope);
        CallArgs args = eval_args(e, scope);
        return Value(apply_test(e.name, input, args));
      }
      case Expr::Kind::Neg: return negate(eval(*e.a, scope));
      case Expr::Kind::Pos: {
        Value v = eval(*e.a, scope);
        if (v.is_undefined()) fail_undefined(v);
        if (!v.is_number()) throw EvalFailure("bad operand type for unary +: '" + type_name(v) + "'");
        return v.is_bool() ? Value(v.to_int()) : v;
      }
      case Expr::Kind::Not: return Value(!truthy(eval(*e.a, scope)));
      case Expr::Kind::And: {
        Value left = eval(*e.a, scope);
        return truthy(left) ? eval(*e.b, scope) : left;
      }
      case Expr::Kind::Or: {
        Value left = eval(*e.a, scope);
        return truthy(left) ? left : eval(*e.b, scope);
      }
      case Expr::Kind::Binary: {
        Value left = eval(*e.a, scope);
        return binary_op(e.name, left, eval(*e.b, scope));
      }
      case Expr::Kind::Compare: {
        Value left = eval(*e.items[0], scope);
        for (size_t i = 0; i < e.ops.size(); ++i) {
          Value right = eval(*e.items[i + 1], scope);
          if (!compare(e.ops[i], left, right)) return Value(false);
          left = std::move(right);
        }
        return Value(true);
      }
      case Expr::Kind::Concat: {
        std::string out;
        for (const auto& item : e.items) out += to_str(eval(*item, scope));
        return Value(std::move(out));
      }
      case Expr::Kind::Cond:
        if (truthy(eval(*e.a, scope))) return eval(*e.b, scope);
        return e.c ? eval(*e.c, scope) : Value::undefined("the inline if expression had no else branch");
    }
    return Value();
  }
};

}  // namespace

void check_program(const Body& program) {
  auto check = [](const Expr& e) {
    if (e.kind == Expr::Kind::Filter && !has_filter(e.name))
      throw TemplateError("No filter named '" + e.name + "'.", e.line, e.column);
    if (e.kind == Expr::Kind::Test && !has_test(e.name))
      throw TemplateError("No test named '" + e.name + "'.", e.line, e.column);
  };
  for_each_expr(program, check);
}

std::string render_program(const Body& program, const ObjectData& context, const Clock& clock) {
  return Interpreter(context, clock).run(program);
}

}  // namespace kiln::tmpl
