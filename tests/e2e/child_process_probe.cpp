// Starts `sleep 60` as a ChildProcess, prints its pid and waits to be
// killed: for the test that a killed test or benchmark leaves no node
// behind (tests/e2e/children_end_with_their_parent.sh).
#include "tests/support/child_process.hpp"

#include <unistd.h>

#include <cstdio>

int main() {
  tasker::testing::ChildProcess child{{"/bin/sleep", "60"}, {}, "/dev/null"};
  std::printf("%d\n", static_cast<int>(child.pid()));
  std::fflush(stdout);
  for (;;)
    ::pause();
}
