#pragma once
// The parsed form of a template. Expressions use one node type whose fields
// are read according to `kind` (documented per field); this keeps the parser
// and evaluator short at the cost of a few unused fields per node.
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "template/value.h"

namespace kiln::tmpl {

struct Expr;
using ExprPtr = std::unique_ptr<Expr>;

struct Expr {
  enum class Kind {
    Literal,  // literal
    Name,     // name
    List,     // items
    Tuple,    // items
    Dict,     // items: key, value, key, value, ...
    Attr,     // a.name
    Item,     // a[b]
    Slice,    // a[items[0]:items[1]:items[2]], absent bounds are null
    Call,     // a(items..., kwargs...)
    Filter,   // a | name(items..., kwargs...); a is null inside {% filter %}
    Test,     // a is name(items..., kwargs...)
    Neg,      // -a
    Pos,      // +a
    Not,      // not a
    And,      // a and b
    Or,       // a or b
    Binary,   // a name b, name one of + - * / // % **
    Compare,  // items[0] ops[0] items[1] ops[1] items[2] ...
    Concat,   // items joined with ~
    Cond,     // b if a else c (c may be null)
  };
  Kind kind;
  int line = 0;
  int column = 0;
  Value literal;
  std::string name;
  std::vector<ExprPtr> items;
  std::vector<std::pair<std::string, ExprPtr>> kwargs;
  std::vector<std::string> ops;
  ExprPtr a, b, c;
};

// Left-hand side of set / for / with.
struct Target {
  enum class Kind { Name, Tuple, NamespaceAttr };
  Kind kind = Kind::Name;
  std::string name;             // variable (or namespace variable)
  std::string attr;             // NamespaceAttr
  std::vector<Target> items;    // Tuple
};

struct Stmt;
using StmtPtr = std::unique_ptr<Stmt>;
using Body = std::vector<StmtPtr>;

struct Stmt {
  enum class Kind {
    Text,         // text
    Print,        // expr
    If,           // branches (condition, body); else_body
    For,          // target in expr [if condition]: body; else_body
    Set,          // target = expr
    SetBlock,     // target = rendered body, through filters
    Macro,        // name(params = defaults): body
    CallBlock,    // expr (a call) with caller(params) = body
    FilterBlock,  // body through filters
    Break,
    Continue,
    With,         // assignments; body
    Scope,        // body (e.g. {% generation %}), rendered in place
  };
  Kind kind;
  int line = 0;
  int column = 0;
  std::string text;
  ExprPtr expr;
  ExprPtr condition;
  Target target;
  std::vector<std::pair<ExprPtr, Body>> branches;
  Body body;
  Body else_body;
  std::string name;
  std::vector<std::string> params;
  std::vector<ExprPtr> defaults;  // for the last defaults.size() params
  std::vector<ExprPtr> filters;   // Filter nodes, innermost input null
  std::vector<std::pair<Target, ExprPtr>> assignments;
};

// Calls fn on every expression of the tree (nested ones included), e.g. to
// check filter names or find the names a macro body reads.
void for_each_expr(const Body& body, const std::function<void(const Expr&)>& fn);

}  // namespace kiln::tmpl
