#include "worker/handler_pool.hpp"

#include <doctest/doctest.h>

#include <future>
#include <stdexcept>
#include <thread>

namespace tasker::worker {

TEST_CASE("a job submitted by a job of the pool runs at once on its thread") {
  HandlerPool pool{2};
  std::promise<void> done;
  std::thread::id outer, inner;
  bool inner_ran_before_return = false;
  pool.submit([&] {
    outer = std::this_thread::get_id();
    bool ran = false;
    pool.submit([&] {
      inner = std::this_thread::get_id();
      ran = true;
    });
    inner_ran_before_return = ran;
    done.set_value();
  });
  done.get_future().wait();
  CHECK(inner_ran_before_return);
  CHECK(inner == outer);
  CHECK(outer != std::this_thread::get_id());
}

TEST_CASE("a job submitted from outside runs on a pool thread; one of "
          "another pool submitted from a job runs on that pool") {
  HandlerPool first{1};
  HandlerPool second{1};
  std::promise<std::thread::id> from_first, from_second;
  first.submit([&] {
    second.submit([&] {
      from_second.set_value(std::this_thread::get_id());
    });
    from_first.set_value(std::this_thread::get_id());
  });
  auto a = from_first.get_future().get();
  auto b = from_second.get_future().get();
  CHECK(a != b);
  CHECK(a != std::this_thread::get_id());
  CHECK(b != std::this_thread::get_id());
}

TEST_CASE("a job goes to the thread that went idle last") {
  HandlerPool pool{3};
  auto wait_all_idle = [&] {
    while (pool.idle_threads() < pool.threads())
      std::this_thread::yield();
  };
  auto run_one = [&] {
    std::promise<std::thread::id> ran;
    pool.submit([&] {
      ran.set_value(std::this_thread::get_id());
    });
    auto id = ran.get_future().get();
    wait_all_idle();
    return id;
  };
  wait_all_idle();
  auto first = run_one();
  // Submission order would rotate through all three threads.
  for (int i = 0; i < 5; ++i)
    CHECK(run_one() == first);
}

TEST_CASE("a job that throws leaves its thread serving the pool") {
  HandlerPool pool{1};
  pool.submit([] {
    throw std::runtime_error("handler bug");
  });
  std::promise<std::thread::id> next;
  pool.submit([&] {
    next.set_value(std::this_thread::get_id());
  });
  CHECK(next.get_future().get() != std::this_thread::get_id());
}

} // namespace tasker::worker
