// handoff_floor: what handing work from one thread to another costs on
// this machine, the step's unavoidable part in the engine's design, for
// holding its in-memory figures against.
//
//   handoff_floor [--round-trips N] [--runs N]
//
// A worker hands each step to a handler thread (handlers may block, so they
// never run on the actors' threads) and learns from it that the step is
// done: two hand-offs per step at the least, each a sleeping thread woken.
// Measured two ways, each on any of the machine's cores and then with all
// the bench's threads on one core:
//
// - threads: two threads pass a token back and forth through a mutex and a
//   condition variable (what CAF's scheduler, the handler pool and Asio
//   wait on);
// - actor and thread: an actor on the engine's actor scheduler (the nodes'
//   configuration) hands a number to a thread waiting on a condition
//   variable, which sends it back to the actor (the worker processor and
//   its handler pool, without the handler and the message decoding).
//
// Per hand-off: wall time, and CPU time of the whole process (kernel
// included), medians of `--runs`. Also printed: the steps per second two
// hand-offs a step allow on all cores if the machine did nothing else.

#include "bench/bench_environment.hpp"
#include "bench/command_line.hpp"
#include "channels/actor_system_setup.hpp"

#include <pthread.h>
#include <sched.h>
#include <sys/resource.h>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace {

using SteadyClock = std::chrono::steady_clock;
using go_atom = caf::atom_constant<caf::atom("go")>;

struct Options {
  int64_t round_trips = 100000;
  int runs = 3;
};

struct Cost {
  double wall_us = 0;
  double cpu_us = 0;
};

double process_cpu_seconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  auto seconds = [](const timeval& t) {
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6;
  };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

// Runs `work` (which makes `handoffs` hand-offs) and returns its cost per
// hand-off.
Cost measure(int64_t handoffs, const std::function<void()>& work) {
  auto cpu_before = process_cpu_seconds();
  auto started = SteadyClock::now();
  work();
  auto wall = std::chrono::duration<double>(SteadyClock::now() - started);
  auto cpu = process_cpu_seconds() - cpu_before;
  auto n = static_cast<double>(handoffs);
  return {wall.count() / n * 1e6, cpu / n * 1e6};
}

// Two threads passing a token back and forth.
Cost thread_pair(int64_t round_trips) {
  std::mutex lock;
  std::condition_variable turned;
  bool other_turn = false;
  return measure(2 * round_trips, [&] {
    std::thread other{[&] {
      for (int64_t i = 0; i < round_trips; ++i) {
        std::unique_lock<std::mutex> guard{lock};
        turned.wait(guard, [&] {
          return other_turn;
        });
        other_turn = false;
        guard.unlock();
        turned.notify_one();
      }
    }};
    for (int64_t i = 0; i < round_trips; ++i) {
      std::unique_lock<std::mutex> guard{lock};
      other_turn = true;
      guard.unlock();
      turned.notify_one();
      guard.lock();
      turned.wait(guard, [&] {
        return !other_turn;
      });
    }
    other.join();
  });
}

// A thread that sends each number it is handed back to an actor.
class EchoThread {
 public:
  void start(caf::actor target) {
    thread_ = std::thread{[this, target] {
      for (;;) {
        std::unique_lock<std::mutex> guard{lock_};
        ready_.wait(guard, [&] {
          return !jobs_.empty();
        });
        auto job = jobs_.front();
        jobs_.pop_front();
        guard.unlock();
        if (!job)
          return;
        caf::anon_send(target, *job);
      }
    }};
  }

  /// Hands `value` over; an empty one ends the thread.
  void hand(std::optional<int64_t> value) {
    {
      std::lock_guard<std::mutex> guard{lock_};
      jobs_.push_back(value);
    }
    ready_.notify_one();
  }

  void stop() {
    hand(std::nullopt);
    thread_.join();
  }

 private:
  std::mutex lock_;
  std::condition_variable ready_;
  std::deque<std::optional<int64_t>> jobs_;
  std::thread thread_;
};

// An actor on the nodes' scheduler handing numbers to a thread and getting
// them back.
Cost actor_and_thread(int64_t round_trips) {
  caf::actor_system_config cfg;
  tasker::channels::configure_actor_system(cfg);
  caf::actor_system system{cfg};
  auto echo = std::make_shared<EchoThread>();
  auto done = std::make_shared<caf::response_promise>();
  auto actor
      = system.spawn([echo, done, round_trips](caf::event_based_actor* self) {
          return caf::behavior{
              [self, echo, done](go_atom) {
                *done = self->make_response_promise();
                echo->hand(int64_t{1});
              },
              [echo, done, round_trips](int64_t value) {
                if (value < round_trips)
                  echo->hand(value + 1);
                else
                  done->deliver(value);
              },
          };
        });
  echo->start(actor);
  caf::scoped_actor caller{system};
  Cost cost = measure(2 * round_trips, [&] {
    caller->request(actor, caf::infinite, go_atom::value)
        .receive([](int64_t) {},
                 [&](const caf::error& e) {
                   throw std::runtime_error(system.render(e));
                 });
  });
  echo->stop();
  caf::anon_send_exit(actor, caf::exit_reason::user_shutdown);
  return cost;
}

// Runs `f` with this thread, and the threads it starts, on CPU `cpu` only.
template <class F>
std::optional<Cost> on_one_core(int cpu, F f) {
  cpu_set_t before;
  if (pthread_getaffinity_np(pthread_self(), sizeof before, &before) != 0)
    return std::nullopt;
  cpu_set_t one;
  CPU_ZERO(&one);
  CPU_SET(cpu, &one);
  if (pthread_setaffinity_np(pthread_self(), sizeof one, &one) != 0)
    return std::nullopt;
  auto cost = f();
  pthread_setaffinity_np(pthread_self(), sizeof before, &before);
  return cost;
}

int first_allowed_cpu() {
  cpu_set_t allowed;
  if (pthread_getaffinity_np(pthread_self(), sizeof allowed, &allowed) != 0)
    return -1;
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu)
    if (CPU_ISSET(cpu, &allowed))
      return cpu;
  return -1;
}

Cost median(const std::vector<Cost>& runs) {
  std::vector<double> wall;
  std::vector<double> cpu;
  for (const auto& run : runs) {
    wall.push_back(run.wall_us);
    cpu.push_back(run.cpu_us);
  }
  return {tasker::bench::percentile(wall, 0.5),
          tasker::bench::percentile(cpu, 0.5)};
}

Options parse(tasker::bench::CommandLine& line) {
  Options options;
  while (line.next()) {
    if (line.arg() == "--round-trips")
      options.round_trips = line.number();
    else if (line.arg() == "--runs")
      options.runs = static_cast<int>(line.number());
    else
      throw std::invalid_argument("unknown argument " + line.arg());
  }
  if (options.round_trips < 1)
    throw std::invalid_argument("--round-trips: must be at least 1");
  if (options.runs < 1)
    throw std::invalid_argument("--runs: must be at least 1");
  return options;
}

} // namespace

int main(int argc, char** argv) {
  tasker::bench::CommandLine line{argc, argv};
  Options options;
  try {
    options = parse(line);
  } catch (const std::invalid_argument& e) {
    std::fprintf(stderr,
                 "handoff_floor: %s\nusage: handoff_floor [--round-trips N] "
                 "[--runs N]\n",
                 e.what());
    return 2;
  }
  std::printf("handoff_floor: %s\nmachine: %s\n", line.text().c_str(),
              tasker::bench::machine_description().c_str());
  std::printf("%lld round trips (two hand-offs each) per run, medians of %d "
              "runs\n\n",
              static_cast<long long>(options.round_trips), options.runs);
  std::printf("%-18s %-10s %12s %12s %22s\n", "between", "cores", "us/hand-off",
              "CPU us", "steps/s at 2 per step");
  auto cores = std::max(1u, std::thread::hardware_concurrency());
  int cpu = first_allowed_cpu();
  struct Case {
    const char* name;
    std::function<Cost()> run;
  };
  std::vector<Case> cases{
      {"threads",
       [&] {
         return thread_pair(options.round_trips);
       }},
      {"actor and thread",
       [&] {
         return actor_and_thread(options.round_trips);
       }},
  };
  try {
    for (const auto& c : cases) {
      for (bool pinned : {false, true}) {
        std::vector<Cost> runs;
        for (int run = 0; run < options.runs; ++run) {
          if (!pinned) {
            runs.push_back(c.run());
            continue;
          }
          auto cost = cpu < 0 ? std::nullopt : on_one_core(cpu, c.run);
          if (!cost)
            break;
          runs.push_back(*cost);
        }
        if (runs.empty()) {
          std::printf("%-18s %-10s %12s\n", c.name, "one", "n/a");
          continue;
        }
        auto cost = median(runs);
        // Two cores' worth of CPU (or one, pinned) over two hand-offs.
        double usable = pinned ? 1.0 : static_cast<double>(cores);
        std::printf("%-18s %-10s %12.1f %12.1f %22.0f\n", c.name,
                    pinned ? "one" : "any", cost.wall_us, cost.cpu_us,
                    usable * 1e6 / (2 * cost.cpu_us));
      }
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "handoff_floor: %s\n", e.what());
    return 1;
  }
  return 0;
}
