// Shared doctest main of the integration executables. Each one needs one
// server, named by TASKER_TEST_SERVER_VARIABLE (the variable holding its
// URL). Without it the tests cannot run: outside CI that is a skip (exit 77,
// which ctest reports as skipped), in CI (CI=true) it is a failure.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <cstdio>
#include <cstdlib>
#include <string_view>

#ifndef TASKER_TEST_SERVER_VARIABLE
#  error "define TASKER_TEST_SERVER_VARIABLE as the server URL's variable"
#endif

namespace {

constexpr int skip_exit_code = 77;

bool running_in_ci() {
  const char* ci = std::getenv("CI");
  if (ci == nullptr)
    return false;
  std::string_view value{ci};
  return value == "true" || value == "1";
}

// Listing or asking for help needs no server.
bool needs_server(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    std::string_view arg{argv[i]};
    for (std::string_view prefix : {"--list", "-ltc", "-lts", "-lr", "--help",
                                    "-h", "-?", "--version", "-v"}) {
      if (arg.substr(0, prefix.size()) == prefix)
        return false;
    }
  }
  return true;
}

} // namespace

int main(int argc, char** argv) {
  constexpr const char* variable = TASKER_TEST_SERVER_VARIABLE;
  const char* url = std::getenv(variable);
  if ((url == nullptr || *url == '\0') && needs_server(argc, argv)) {
    if (running_in_ci()) {
      std::fprintf(stderr,
                   "error: %s is not set, and CI=true: in CI a missing test "
                   "server is a failure, not a skip (scripts/test.sh starts "
                   "the servers and sets it)\n",
                   variable);
      return 1;
    }
    std::printf("skipped: %s not set\n", variable);
    return skip_exit_code;
  }
  doctest::Context context;
  context.applyCommandLine(argc, argv);
  return context.run();
}
