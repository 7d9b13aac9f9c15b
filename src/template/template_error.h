#pragma once
// Errors of the template interpreter. Every failure names the template line
// and column of the construct that caused it, so that a broken chat template
// in a model file can be fixed without guessing.
#include <string>

#include "core/error.h"

namespace kiln::tmpl {

class TemplateError : public kiln::Error {
 public:
  TemplateError(const std::string& detail, int line, int column)
      : kiln::Error("chat template line " + std::to_string(line) + ", column " + std::to_string(column) + ": " +
                    detail),
        detail_(detail),
        line_(line),
        column_(column) {}

  const std::string& detail() const { return detail_; }
  int line() const { return line_; }
  int column() const { return column_; }

 protected:
  TemplateError(const std::string& what, const std::string& detail, int line, int column)
      : kiln::Error(what), detail_(detail), line_(line), column_(column) {}

 private:
  std::string detail_;
  int line_;
  int column_;
};

// The template called raise_exception(message): the template author's message
// for the user (e.g. "Conversation roles must alternate ..."), so what() is
// exactly that message; line() and column() still say where it was raised.
class TemplateRaised : public TemplateError {
 public:
  TemplateRaised(const std::string& message, int line, int column)
      : TemplateError(message, message, line, column) {}
};

}  // namespace kiln::tmpl
