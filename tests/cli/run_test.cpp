// `kiln run` end to end through the binary: one-shot answers on the real
// Gemma 3 270M file (a stored model with PARAMETERs, a bare GGUF path, a
// prompt from stdin), the REPL driven through a pipe (--interactive), and
// error exits. Tests needing the model skip when it is absent.
#include <gtest/gtest.h>

#include "cli/cli_helpers.h"

namespace kiln::cli_test {
namespace {

fs::path gemma_path() {
  const char* dir = std::getenv("KILN_TEST_MODELS");
  const char* home = std::getenv("HOME");
  return (dir ? fs::path(dir) : fs::path(home ? home : "/root") / ".cache/kiln/models") / "gemma-3-270m-q4_k_m.gguf";
}

// Runs kiln with `input` on stdin (run_kiln leaves stdin to the test runner).
RunResult run_with_stdin(const StoreDir& dir, const std::vector<std::string>& args, const std::string& input) {
  dir.write_file("stdin.txt", input);
  std::string cmd = "cd ";
  cmd.append(shell_quote(dir.dir().string())).append(" && KILN_MODELS=").append(shell_quote(dir.store().string()));
  cmd.append(" exec ").append(shell_quote(KILN_BINARY));
  for (const auto& a : args) cmd.append(" ").append(shell_quote(a));
  cmd.append(" <stdin.txt >out.txt 2>err.txt");
  const int status = std::system(cmd.c_str());
  RunResult r;
  r.signaled = WIFSIGNALED(status);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = slurp(dir.file("out.txt"));
  r.err = slurp(dir.file("err.txt"));
  return r;
}

// One store for the suite: gemma imported once as "g" with a fixed seed and
// a short answer.
class RunCommand : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!fs::exists(gemma_path())) return;
    dir_ = new StoreDir("run");
    dir_->write_file("Modelfile", "FROM " + gemma_path().string() +
                                      "\nPARAMETER seed 42\nPARAMETER num_predict 16\nPARAMETER num_ctx 512\n"
                                      "SYSTEM You answer in one sentence.\n");
    const RunResult r = dir_->kiln({"create", "g", "-f", "Modelfile"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }
  void SetUp() override {
    if (!dir_) GTEST_SKIP() << gemma_path() << " is absent";
  }
  static StoreDir* dir_;
};
StoreDir* RunCommand::dir_ = nullptr;

TEST_F(RunCommand, OneShotIsSeededAndEndsWithANewline) {
  const RunResult a = run_with_stdin(*dir_, {"run", "g", "Why is the sky blue?"}, "");
  ASSERT_EQ(a.exit_code, 0) << a.err;
  ASSERT_GT(a.out.size(), 2u);
  EXPECT_EQ(a.out.back(), '\n');
  const RunResult b = run_with_stdin(*dir_, {"run", "g", "Why", "is", "the", "sky", "blue?"}, "");
  EXPECT_EQ(b.out, a.out);  // words joined by spaces: the same prompt, the same seed
  EXPECT_TRUE(a.err.empty()) << a.err;
}

TEST_F(RunCommand, PromptFromStdin) {
  const RunResult arg = run_with_stdin(*dir_, {"run", "g", "Name a fruit."}, "");
  const RunResult piped = run_with_stdin(*dir_, {"run", "g"}, "Name a fruit.");
  ASSERT_EQ(piped.exit_code, 0) << piped.err;
  EXPECT_EQ(piped.out, arg.out);
  // Piped text comes first, then the arguments.
  const RunResult both = run_with_stdin(*dir_, {"run", "g", "fruit."}, "Name a");
  EXPECT_EQ(both.out, arg.out);
}

TEST_F(RunCommand, VerbosePrintsOllamaTimingsOnStderr) {
  const RunResult r = run_with_stdin(*dir_, {"run", "g", "--verbose", "Hi"}, "");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const char* key : {"total duration:", "load duration:", "prompt eval count:", "prompt eval duration:",
                          "prompt eval rate:", "eval count:", "eval duration:", "eval rate:"})
    EXPECT_NE(r.err.find(key), std::string::npos) << key << "\n" << r.err;
  EXPECT_NE(r.err.find("tokens/s"), std::string::npos);
  EXPECT_EQ(r.out.find("duration"), std::string::npos);  // timings stay off stdout
}

TEST_F(RunCommand, GgufPathRuns) {
  // A bare file has default options (unbounded answers), so the REPL bounds this one.
  const RunResult r = run_with_stdin(*dir_, {"run", gemma_path().string(), "--keepalive", "5m", "--nowordwrap",
                                             "--interactive"},
                                     "/set parameter num_predict 8\n/show info\nSay hi.\n");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("gemma3"), std::string::npos) << r.out;          // /show info
  EXPECT_NE(r.out.find("builtin:gemma3"), std::string::npos) << r.out;  // the file has no template of its own
  // The answer: something between the third prompt and the last.
  const size_t third = r.out.find(">>> ", r.out.find(">>> ", r.out.find(">>> ") + 1) + 1);
  ASSERT_NE(third, std::string::npos);
  EXPECT_GT(r.out.rfind(">>> ") - third, 8u) << r.out;
}

TEST_F(RunCommand, ReplThroughAPipe) {
  const std::string input =
      "/set parameter temperature hot\n"
      "/set parameter no_such_thing 1\n"
      "/set parameter top_p 2\n"
      "/set parameter seed\n"
      "/set parameter seed 42\n"
      "/set parameter stop <<A>> <<B>>\n"
      "/show parameters\n"
      "/set system \"\"\"You are\n"
      "a cat.\"\"\"\n"
      "/show system\n"
      "/nonsense\n"
      "\"\"\"Name\n"
      "a fruit.\"\"\"\n"
      "/clear\n"
      "/?\n"
      "/bye\n"
      "this line is never read\n";
  const RunResult r = run_with_stdin(*dir_, {"run", "g", "--interactive"}, input);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string& o = r.out;
  EXPECT_NE(o.find(">>> "), std::string::npos);
  EXPECT_NE(o.find("... "), std::string::npos);  // the continuation prompt of a multi-line message
  EXPECT_NE(o.find("Couldn't set parameter: "), std::string::npos);
  EXPECT_NE(o.find("temperature"), std::string::npos);
  EXPECT_NE(o.find("no_such_thing"), std::string::npos);
  EXPECT_NE(o.find("top_p"), std::string::npos);
  EXPECT_NE(o.find("Usage: /set parameter <name> <value>"), std::string::npos);
  EXPECT_NE(o.find("Set parameter 'seed' to '42'"), std::string::npos);
  EXPECT_NE(o.find("Model defined parameters:"), std::string::npos);
  const size_t user = o.find("User defined parameters:");
  ASSERT_NE(user, std::string::npos);
  // Two stop strings from one line (Ollama splits the value at spaces).
  EXPECT_NE(o.find("\"<<A>>\"", user), std::string::npos) << o;
  EXPECT_NE(o.find("\"<<B>>\"", user), std::string::npos) << o;
  EXPECT_NE(o.find("Set system message."), std::string::npos);
  EXPECT_NE(o.find("You are\na cat."), std::string::npos);  // /show system: both lines, quotes gone
  EXPECT_NE(o.find("Unknown command '/nonsense'"), std::string::npos);
  EXPECT_NE(o.find("Cleared session context"), std::string::npos);
  EXPECT_NE(o.find("Available Commands:"), std::string::npos);
  // Exactly three failed /set parameter lines.
  size_t failures = 0;
  for (size_t at = o.find("Couldn't set"); at != std::string::npos; at = o.find("Couldn't set", at + 1)) ++failures;
  EXPECT_EQ(failures, 3u) << o;
}

TEST_F(RunCommand, ReplAnswersKeepTheConversation) {
  // The same two messages through the REPL, twice: seeded, so identical.
  const std::string input = "Name a colour.\nAnd another?\n";
  const RunResult a = run_with_stdin(*dir_, {"run", "g", "--interactive", "--verbose"}, input);
  const RunResult b = run_with_stdin(*dir_, {"run", "g", "--interactive"}, input);
  ASSERT_EQ(a.exit_code, 0) << a.err;
  EXPECT_EQ(a.out, b.out);
  // Two answers, each followed by a blank line, then the prompt for more
  // (end of input exits like Ctrl-D).
  size_t prompts = 0;
  for (size_t at = a.out.find(">>> "); at != std::string::npos; at = a.out.find(">>> ", at + 1)) ++prompts;
  EXPECT_EQ(prompts, 3u) << a.out;
  // --verbose: timings after each answer; the second prefills only the new turn.
  size_t counts = 0;
  std::vector<long> prompt_counts;
  for (size_t at = a.err.find("prompt eval count:"); at != std::string::npos;
       at = a.err.find("prompt eval count:", at + 1)) {
    ++counts;
    prompt_counts.push_back(std::stol(a.err.substr(at + 18)));
  }
  ASSERT_EQ(counts, 2u) << a.err;
  EXPECT_GT(prompt_counts[0], 10);
  // Without reuse the second would be longer than the first (it contains it).
  EXPECT_LT(prompt_counts[1], prompt_counts[0]);
}

TEST_F(RunCommand, FormatJson) {
  const RunResult r = run_with_stdin(*dir_, {"run", "g", "--format", "json", "A cat as JSON."}, "");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.substr(0, 1), "{") << r.out;  // the grammar allows nothing else first
  const RunResult bad = run_with_stdin(*dir_, {"run", "g", "--format", "xml", "hi"}, "");
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.err.find("invalid format 'xml'"), std::string::npos) << bad.err;
}

TEST_F(RunCommand, ThinkingIsFramedHiddenOrTurnedOff) {
  // A Qwen3-style template around gemma's turns: the generation prompt opens
  // a <think> block unless enable_thinking is false, which closes it at once.
  dir_->write_file("Modelfile.think",
                   "FROM g\nTEMPLATE \"\"\"{{ bos_token }}{% for m in messages %}<start_of_turn>user\n"
                   "{{ m.content }}<end_of_turn>\n{% endfor %}<start_of_turn>model\n"
                   "{% if enable_thinking is defined and not enable_thinking %}<think>\n\n</think>\n\n"
                   "{% else %}<think>\n{% endif %}\"\"\"\n");
  const RunResult created = dir_->kiln({"create", "thinker", "-f", "Modelfile.think"});
  ASSERT_EQ(created.exit_code, 0) << created.err;

  // Gemma never closes the block, so the whole answer is thinking.
  const RunResult shown = run_with_stdin(*dir_, {"run", "thinker", "Why is the sky blue?"}, "");
  ASSERT_EQ(shown.exit_code, 0) << shown.err;
  EXPECT_EQ(shown.out.rfind("Thinking...\n", 0), 0u) << shown.out;
  EXPECT_NE(shown.out.find("...done thinking."), std::string::npos) << shown.out;

  const RunResult hidden = run_with_stdin(*dir_, {"run", "thinker", "--hidethinking", "Why is the sky blue?"}, "");
  ASSERT_EQ(hidden.exit_code, 0) << hidden.err;
  EXPECT_EQ(hidden.out, "\n");  // nothing but the final newline

  // Thinking off: the template closes the block, the answer is content.
  const RunResult off = run_with_stdin(*dir_, {"run", "thinker", "--think=false", "Why is the sky blue?"}, "");
  ASSERT_EQ(off.exit_code, 0) << off.err;
  EXPECT_EQ(off.out.find("Thinking..."), std::string::npos) << off.out;
  EXPECT_GT(off.out.size(), 2u);
  const RunResult nothink = run_with_stdin(*dir_, {"run", "thinker", "--nothink", "Why is the sky blue?"}, "");
  EXPECT_EQ(nothink.out, off.out);
}

TEST(RunErrors, UnknownModel) {
  StoreDir dir("run-unknown");
  const RunResult r = dir.kiln({"run", "nosuchmodel", "hi"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("Error: model 'nosuchmodel"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("not found"), std::string::npos) << r.err;
}

TEST(RunErrors, BadGguf) {
  StoreDir dir("run-bad");
  dir.write_file("bad.gguf", "GGUF but not really a model file");
  const RunResult r = dir.kiln({"run", "./bad.gguf", "hi"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err.rfind("Error: ", 0), 0u) << r.err;
  EXPECT_TRUE(r.out.empty());
}

TEST(RunErrors, UnsupportedArchitecture) {
  StoreDir dir("run-arch");
  TinyModel m;
  m.arch = "mamba";
  m.write(dir.file("tiny.gguf"));
  const RunResult r = dir.kiln({"run", "./tiny.gguf", "hi"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("mamba"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace kiln::cli_test
