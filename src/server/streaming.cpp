// Streamed answers over httplib's chunked content provider, and the socket
// probe that notices a client gone while nothing is being written.
#include "server/streaming.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstdlib>
#include <exception>
#include <memory>

namespace kiln::server {
namespace {

// "1.2.3.4" / "::1" and a port from a socket address.
bool address_of(const sockaddr_storage& ss, std::string& addr, int& port) {
  char buf[INET6_ADDRSTRLEN] = {};
  if (ss.ss_family == AF_INET) {
    const auto& a = reinterpret_cast<const sockaddr_in&>(ss);
    if (!inet_ntop(AF_INET, &a.sin_addr, buf, sizeof buf)) return false;
    port = ntohs(a.sin_port);
  } else if (ss.ss_family == AF_INET6) {
    const auto& a = reinterpret_cast<const sockaddr_in6&>(ss);
    if (!inet_ntop(AF_INET6, &a.sin6_addr, buf, sizeof buf)) return false;
    port = ntohs(a.sin6_port);
  } else {
    return false;
  }
  addr = buf;
  return true;
}

// httplib writes IPv4-mapped peers as "::ffff:1.2.3.4" or "1.2.3.4"
// depending on the listening socket; compare without the prefix.
std::string_view strip_v4_mapped(std::string_view a) {
  constexpr std::string_view prefix = "::ffff:";
  return a.starts_with(prefix) && a.find('.') != std::string_view::npos ? a.substr(prefix.size()) : a;
}

bool endpoint_matches(int fd, bool peer, const std::string& want_addr, int want_port) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  const int rc = peer ? ::getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len)
                      : ::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
  if (rc != 0) return false;
  std::string addr;
  int port = -1;
  if (!address_of(ss, addr, port)) return false;
  return port == want_port && strip_v4_mapped(addr) == strip_v4_mapped(want_addr);
}

// The connected socket with this address pair, or -1.
int find_connection_socket(const std::string& remote_addr, int remote_port, const std::string& local_addr,
                           int local_port) {
  if (remote_port < 0 || local_port < 0) return -1;
  DIR* dir = ::opendir("/proc/self/fd");
  if (!dir) return -1;
  int found = -1;
  while (dirent* e = ::readdir(dir)) {
    char* end = nullptr;
    const long fd = std::strtol(e->d_name, &end, 10);
    if (end == e->d_name || *end != '\0') continue;
    struct stat st {};
    if (::fstat(int(fd), &st) != 0 || !S_ISSOCK(st.st_mode)) continue;
    if (endpoint_matches(int(fd), true, remote_addr, remote_port) &&
        endpoint_matches(int(fd), false, local_addr, local_port)) {
      found = int(fd);
      break;
    }
  }
  ::closedir(dir);
  return found;
}

// False once the peer has closed its end (end-of-file, reset, hang-up).
// Bytes waiting to be read (a pipelined request) mean it is still there.
bool socket_peer_open(int fd) {
  pollfd p{fd, POLLIN | POLLRDHUP, 0};
  if (::poll(&p, 1, 0) < 0) return errno == EINTR;
  if (p.revents & (POLLERR | POLLHUP | POLLNVAL | POLLRDHUP)) return false;
  if (!(p.revents & POLLIN)) return true;
  char c;
  const ssize_t n = ::recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
  if (n > 0) return true;
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return true;
  return false;
}

class SinkWriter final : public StreamWriter {
 public:
  SinkWriter(httplib::DataSink& sink, ConnectionProbe& probe) : sink_(sink), probe_(probe) {}

  bool write(std::string_view bytes) override {
    if (gone_) return false;
    if (!sink_.write(bytes.data(), bytes.size())) gone_ = true;
    return !gone_;
  }
  bool alive() override {
    if (!gone_ && !probe_.alive()) gone_ = true;
    return !gone_;
  }
  bool gone() const { return gone_; }

 private:
  httplib::DataSink& sink_;
  ConnectionProbe& probe_;
  bool gone_ = false;
};

}  // namespace

ConnectionProbe::ConnectionProbe(const httplib::Request& req)
    : remote_addr_(req.remote_addr), local_addr_(req.local_addr), remote_port_(req.remote_port),
      local_port_(req.local_port) {}

bool ConnectionProbe::alive() {
  // The socket stays open (and its number ours) while the request is being
  // answered, so one lookup serves the whole answer.
  if (fd_ == -2) fd_ = find_connection_socket(remote_addr_, remote_port_, local_addr_, local_port_);
  return fd_ < 0 || socket_peer_open(fd_);
}

bool StreamWriter::ndjson(const nlohmann::ordered_json& object) { return write(dump_json(object) + "\n"); }

bool StreamWriter::sse(const nlohmann::ordered_json& object) { return write("data: " + dump_json(object) + "\n\n"); }

bool StreamWriter::sse_done() { return write("data: [DONE]\n\n"); }

void stream_response(Call& call, const char* content_type, std::function<void(StreamWriter&)> produce,
                     std::function<void(const std::string&)> log) {
  call.res.status = 200;
  // The provider is copied into httplib's response and runs after the
  // handler returned: it owns everything it uses.
  auto job = std::make_shared<std::function<void(StreamWriter&)>>(std::move(produce));
  auto probe = std::make_shared<ConnectionProbe>(call.req);
  std::string what = call.req.method + " " + call.req.path;
  call.res.set_chunked_content_provider(
      content_type, [job, probe, log = std::move(log), what = std::move(what)](size_t, httplib::DataSink& sink) {
        SinkWriter writer(sink, *probe);
        try {
          (*job)(writer);
        } catch (const std::exception& e) {
          if (log) log("error: " + what + ": " + e.what());
        } catch (...) {
          if (log) log("error: " + what + ": unknown exception");
        }
        if (writer.gone()) return false;  // httplib drops the connection
        sink.done();
        return true;
      });
}

}  // namespace kiln::server
