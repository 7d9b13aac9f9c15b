// `kiln ps`, `kiln stop` and `kiln run` against an in-process server on an
// ephemeral port (KILN_HOST), through the kiln binary.
#include <gtest/gtest.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "pool_fixture.h"

using namespace kiln;
using namespace kiln::pool_test;

namespace {

struct CliResult {
  int status = -1;
  std::string out, err;
};

std::string read_file(const fs::path& p) {
  std::ifstream in(p);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Runs the binary with KILN_HOST at the server and KILN_MODELS at an empty
// store (so that nothing can be loaded locally by mistake).
CliResult kiln_cli(int port, const std::string& args, const std::string& stdin_text = "") {
  static int n = 0;
  const fs::path base = fs::temp_directory_path() / ("kiln-pool-cli-" + std::to_string(::getpid()) + "-" + std::to_string(n++));
  std::ofstream(base.string() + ".in") << stdin_text;
  const std::string cmd = "KILN_HOST=127.0.0.1:" + std::to_string(port) + " KILN_MODELS=" + base.string() +
                          ".empty " KILN_BINARY " " + args + " <" + base.string() + ".in >" + base.string() +
                          ".out 2>" + base.string() + ".err";
  const int st = std::system(cmd.c_str());
  CliResult r{WIFEXITED(st) ? WEXITSTATUS(st) : -1, read_file(base.string() + ".out"), read_file(base.string() + ".err")};
  for (const char* ext : {".in", ".out", ".err"}) fs::remove(base.string() + ext);
  return r;
}

}  // namespace

TEST(PoolCli, PsShowsLoadedModelsAndStopUnloads) {
  REQUIRE_GEMMA();
  PoolServer s("cli-ps", {"gemma:270m"});
  CliResult r = kiln_cli(s.port(), "ps");
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "NAME    ID    SIZE    PROCESSOR    CONTEXT    UNTIL\n");

  { auto l = s.api().models().acquire("gemma:270m", small_runner(), server::KeepAlive{std::chrono::minutes(4)}); }
  r = kiln_cli(s.port(), "ps");
  EXPECT_EQ(r.status, 0) << r.err;
  const std::string id = s.store().store().get(store::ModelName::parse("gemma:270m")).digest.short_id();
  EXPECT_NE(r.out.find("gemma:270m    " + id + "    "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("100% CPU     256        "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("minutes from now"), std::string::npos) << r.out;

  r = kiln_cli(s.port(), "stop gemma:270m");
  EXPECT_EQ(r.status, 0) << r.err;
  bool gone = false;
  for (int i = 0; i < 300 && !gone; ++i) {
    gone = s.api().models().ps().empty();
    if (!gone) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_TRUE(gone);

  r = kiln_cli(s.port(), "stop absent");
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.err, "Error: couldn't find model \"absent\" to stop\n");
}

TEST(PoolCli, NoServerIsAClearError) {
  // A port nothing listens on: bind a socket to a free one, then close it.
  int port = 0;
  {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len), 0);
    port = ntohs(a.sin_port);
    ::close(fd);
  }
  CliResult r = kiln_cli(port, "ps");
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("could not connect to kiln server at http://127.0.0.1:" + std::to_string(port)),
            std::string::npos)
      << r.err;
}

TEST(PoolCli, RunTalksToTheServer) {
  REQUIRE_GEMMA();
  PoolServer s("cli-run", {"gemma:270m"}, "PARAMETER num_predict 8\nPARAMETER num_ctx 256\n");
  // The model exists only on the server (the CLI's KILN_MODELS is empty), so
  // an answer proves the server ran it; it stays loaded there afterwards.
  CliResult r = kiln_cli(s.port(), "run gemma:270m --keepalive 1m --verbose 'Say hi'");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.err.find("eval count:"), std::string::npos) << r.err;
  const auto ps = s.api().models().ps();
  ASSERT_EQ(ps.size(), 1u);
  EXPECT_EQ(ps[0].name, "gemma:270m");

  // The REPL over the server: a turn, /show info, /clear, /bye.
  r = kiln_cli(s.port(), "run gemma:270m --interactive", "/set parameter num_predict 4\nHello\n/show info\n/clear\n/bye\n");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("Set parameter 'num_predict' to '4'"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("server"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Cleared session context"), std::string::npos) << r.out;
}
