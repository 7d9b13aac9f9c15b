// The `kiln serve` executable: KILN_HOST with port 0, the "Listening on" line,
// one request, and a clean exit (status 0) on SIGTERM and on SIGINT.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <regex>
#include <thread>

#include "server_fixture.h"

using namespace kiln::server_test;

namespace {

struct Child {
  pid_t pid = -1;
  int err_fd = -1;  // the child's stderr
};

Child spawn_serve(const fs::path& store) {
  int fds[2];
  EXPECT_EQ(::pipe(fds), 0);
  Child c;
  c.pid = ::fork();
  if (c.pid == 0) {
    ::dup2(fds[1], 2);
    ::close(fds[0]);
    ::close(fds[1]);
    ::setenv("KILN_HOST", "127.0.0.1:0", 1);
    ::setenv("KILN_MODELS", store.c_str(), 1);
    ::execl(KILN_BINARY, KILN_BINARY, "serve", static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::close(fds[1]);
  c.err_fd = fds[0];
  return c;
}

// Reads the child's stderr until the "Listening on" line; returns the port (-1 on timeout).
int wait_for_port(const Child& c, std::string& seen) {
  const std::regex listening(R"(Listening on http://127\.0\.0\.1:(\d+))");
  ::fcntl(c.err_fd, F_SETFL, O_NONBLOCK);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (std::chrono::steady_clock::now() < deadline) {
    char buf[512];
    const ssize_t n = ::read(c.err_fd, buf, sizeof buf);
    if (n > 0) seen.append(buf, static_cast<size_t>(n));
    std::smatch m;
    if (std::regex_search(seen, m, listening)) return std::stoi(m[1]);
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return -1;
}

int wait_exit(pid_t pid) {
  for (int i = 0; i < 1000; ++i) {
    int status = 0;
    if (::waitpid(pid, &status, WNOHANG) == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ::kill(pid, SIGKILL);
  ::waitpid(pid, nullptr, 0);
  return -2;  // did not stop within 10 s
}

}  // namespace

TEST(ServeBinary, ServesAndStopsCleanlyOnSignals) {
  const fs::path store = fs::temp_directory_path() / ("kiln-serve-bin-" + std::to_string(::getpid()));
  for (int sig : {SIGTERM, SIGINT}) {
    Child c = spawn_serve(store);
    ASSERT_GT(c.pid, 0);
    std::string seen;
    const int port = wait_for_port(c, seen);
    ASSERT_GT(port, 0) << seen;
    httplib::Client client("127.0.0.1", port);
    auto r = client.Get("/api/version");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    ::kill(c.pid, sig);
    EXPECT_EQ(wait_exit(c.pid), 0) << "signal " << sig;
    ::close(c.err_fd);
  }
  fs::remove_all(store);
}
