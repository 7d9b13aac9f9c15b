#pragma once
// An error with the HTTP status it is answered with. Handlers throw it for
// anything a client got wrong (400 bad request, 404 unknown model, 413 body too
// large); the router turns it into {"error": message}. Plain kiln::Error
// thrown from deeper layers (store, GGUF reader) is treated as the client's
// fault (400) only where a handler says so; anything else becomes a 500 that
// is logged.
#include <string>

#include "core/error.h"

namespace kiln::server {

class HttpError : public kiln::Error {
 public:
  HttpError(int status, const std::string& message) : kiln::Error(message), status_(status) {}
  int status() const { return status_; }

 private:
  int status_;
};

inline HttpError bad_request(const std::string& message) { return HttpError(400, message); }
inline HttpError not_found(const std::string& message) { return HttpError(404, message); }

}  // namespace kiln::server
