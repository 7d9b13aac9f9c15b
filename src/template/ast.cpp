#include "template/ast.h"

namespace kiln::tmpl {
namespace {

void visit_expr(const Expr* e, const std::function<void(const Expr&)>& fn) {
  if (!e) return;
  fn(*e);
  for (const auto& item : e->items) visit_expr(item.get(), fn);
  for (const auto& kw : e->kwargs) visit_expr(kw.second.get(), fn);
  visit_expr(e->a.get(), fn);
  visit_expr(e->b.get(), fn);
  visit_expr(e->c.get(), fn);
}

}  // namespace

void for_each_expr(const Body& body, const std::function<void(const Expr&)>& fn) {
  for (const auto& s : body) {
    visit_expr(s->expr.get(), fn);
    visit_expr(s->condition.get(), fn);
    for (const auto& [condition, branch] : s->branches) {
      visit_expr(condition.get(), fn);
      for_each_expr(branch, fn);
    }
    for_each_expr(s->body, fn);
    for_each_expr(s->else_body, fn);
    for (const auto& d : s->defaults) visit_expr(d.get(), fn);
    for (const auto& f : s->filters) visit_expr(f.get(), fn);
    for (const auto& [target, value] : s->assignments) visit_expr(value.get(), fn);
  }
}

}  // namespace kiln::tmpl
