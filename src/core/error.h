#pragma once
// kiln reports every user-facing failure (bad file, bad request, bad option) by
// throwing kiln::Error with a message that names what is wrong. The CLI prints
// the message and exits 1; the server answers 4xx with {"error": message}.
#include <stdexcept>
#include <string>

namespace kiln {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace kiln
