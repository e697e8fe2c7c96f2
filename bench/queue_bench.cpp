// queue_bench: messages per second for send, receive and ack, single and
// batched, per provider, and notify-to-handler latency for push.
//
//   queue_bench [--provider in_memory|pgmq|rabbitmq|all] [--messages N]
//               [--batch B] [--runs R] [--latency-samples S]
//               [--database-url URL] [--rabbitmq-url URL]
//               [--rabbitmq-queue-type quorum|classic]
//
// The PGMQ URL defaults to TASKER_TEST_DATABASE_URL, then DATABASE_URL; the
// RabbitMQ URL to TASKER_TEST_RABBITMQ_URL, then RABBITMQ_URL. A provider
// without a URL is skipped under "all". Each figure is the median of R runs.

#include "bench/command_line.hpp"
#include "messaging/messaging_provider.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <sys/utsname.h>
#include <unistd.h>

namespace {

using namespace tasker::messaging;
using namespace std::chrono_literals;
using SteadyClock = std::chrono::steady_clock;

struct Options {
  std::string provider = "all";
  int messages = 20000;
  int batch = 100;
  int runs = 3;
  int latency_samples = 500;
  std::string database_url;
  std::string rabbitmq_url;
  /// The kind of the RabbitMQ queues the bench declares.
  QueueType rabbitmq_queue_type = QueueType::quorum;
};

[[noreturn]] void fail(const std::string& what) {
  std::fprintf(stderr, "queue_bench: %s\n", what.c_str());
  std::exit(1);
}

template <class T>
T must(tasker::core::Result<T> result, const char* what) {
  if (!result)
    fail(std::string{what} + ": " + result.error().to_string());
  return std::move(*result);
}

void must(tasker::core::Result<void> result, const char* what) {
  if (!result)
    fail(std::string{what} + ": " + result.error().to_string());
}

double median(std::vector<double> xs) {
  std::sort(xs.begin(), xs.end());
  return xs[xs.size() / 2];
}

double percentile(std::vector<double> xs, double p) {
  std::sort(xs.begin(), xs.end());
  auto index = static_cast<std::size_t>(p * static_cast<double>(xs.size() - 1));
  return xs[index];
}

OutgoingMessage payload(int i) {
  return {"{\"task\":\"0190c3e8-7f6b-7b5e-9c1a-2f4d5e6a7b8c\",\"step\":"
              + std::to_string(i) + ",\"attempt\":1}",
          {},
          {}};
}

// Returns messages per second of `work`, which handles `n` messages.
template <class Work>
double rate(int n, Work work) {
  auto start = SteadyClock::now();
  work();
  std::chrono::duration<double> took = SteadyClock::now() - start;
  return n / took.count();
}

void fill(MessagingProvider& p, const std::string& q, int n, int batch) {
  std::vector<OutgoingMessage> messages;
  for (int i = 0; i < n; i += batch) {
    messages.clear();
    for (int j = i; j < std::min(n, i + batch); ++j)
      messages.push_back(payload(j));
    must(p.send_batch(q, messages), "send_batch");
  }
}

struct Figures {
  std::vector<double> send_one, send_batch, receive_ack_one, receive_ack_batch;
};

void run_throughput(MessagingProvider& p, const std::string& q,
                    const Options& o, Figures& figures) {
  int n = o.messages;
  figures.send_one.push_back(rate(n, [&] {
    for (int i = 0; i < n; ++i)
      must(p.send(q, payload(i)), "send");
  }));
  figures.receive_ack_one.push_back(rate(n, [&] {
    for (int done = 0; done < n;) {
      auto got = must(p.receive(q, 1, 30s), "receive");
      for (auto& m : got) {
        must(p.ack(q, m.id), "ack");
        ++done;
      }
    }
  }));
  figures.send_batch.push_back(rate(n, [&] {
    fill(p, q, n, o.batch);
  }));
  figures.receive_ack_batch.push_back(rate(n, [&] {
    std::vector<int64_t> ids;
    for (int done = 0; done < n;) {
      auto got = must(p.receive(q, o.batch, 30s), "receive");
      ids.clear();
      for (auto& m : got)
        ids.push_back(m.id);
      must(p.ack_batch(q, ids), "ack_batch");
      done += static_cast<int>(ids.size());
    }
  }));
}

// Time from just before `send` to the subscription handler seeing it.
std::vector<double> run_latency(MessagingProvider& p, const std::string& q,
                                int samples) {
  std::mutex mutex;
  std::condition_variable cv;
  int64_t seen = -1;
  auto sub = must(p.subscribe(q,
                              [&](MessageNotification n) {
                                int64_t id = -1;
                                if (auto m = std::get_if<Message>(&n))
                                  id = m->message.id;
                                else if (auto a = std::get_if<Available>(&n))
                                  id = a->msg_id.value_or(-1);
                                std::lock_guard<std::mutex> guard{mutex};
                                seen = id;
                                cv.notify_all();
                              }),
                  "subscribe");
  std::vector<double> micros;
  for (int i = 0; i < samples; ++i) {
    auto start = SteadyClock::now();
    auto id = must(p.send(q, payload(i)), "send");
    std::unique_lock<std::mutex> lock{mutex};
    if (!cv.wait_for(lock, 5s, [&] {
          return seen == id;
        }))
      fail("no notification within 5 s for message " + std::to_string(id));
    std::chrono::duration<double, std::micro> took = SteadyClock::now() - start;
    micros.push_back(took.count());
    lock.unlock();
    must(p.ack(q, id), "ack");
  }
  sub.cancel();
  return micros;
}

void bench_provider(const std::string& name, MessagingProvider p,
                    const Options& o) {
  auto q = "bench_" + name + "_" + std::to_string(::getpid());
  must(p.create_queue(q), "create_queue");
  Figures figures;
  for (int run = 0; run < o.runs; ++run)
    run_throughput(p, q, o, figures);
  std::printf("%-10s send x1        %10.0f msgs/s\n", name.c_str(),
              median(figures.send_one));
  std::printf("%-10s send x%-4d     %10.0f msgs/s\n", name.c_str(), o.batch,
              median(figures.send_batch));
  std::printf("%-10s receive+ack x1 %10.0f msgs/s\n", name.c_str(),
              median(figures.receive_ack_one));
  std::printf("%-10s receive+ack x%-4d%8.0f msgs/s\n", name.c_str(), o.batch,
              median(figures.receive_ack_batch));
  auto micros = run_latency(p, q, o.latency_samples);
  std::printf("%-10s send-to-handler p50 %.0f us  p95 %.0f us  p99 %.0f us "
              "(%d samples)\n",
              name.c_str(), percentile(micros, 0.50), percentile(micros, 0.95),
              percentile(micros, 0.99), o.latency_samples);
  must(p.delete_queue(q), "delete_queue");
}

} // namespace

int main(int argc, char** argv) {
  Options o;
  if (auto url = std::getenv("TASKER_TEST_DATABASE_URL"))
    o.database_url = url;
  else if (auto url = std::getenv("DATABASE_URL"))
    o.database_url = url;
  if (auto url = std::getenv("TASKER_TEST_RABBITMQ_URL"))
    o.rabbitmq_url = url;
  else if (auto url = std::getenv("RABBITMQ_URL"))
    o.rabbitmq_url = url;
  tasker::bench::CommandLine args{argc, argv};
  try {
    while (args.next()) {
      const auto& arg = args.arg();
      if (arg == "--provider")
        o.provider = args.value();
      else if (arg == "--messages")
        o.messages = static_cast<int>(args.number());
      else if (arg == "--batch")
        o.batch = static_cast<int>(args.number());
      else if (arg == "--runs")
        o.runs = static_cast<int>(args.number());
      else if (arg == "--latency-samples")
        o.latency_samples = static_cast<int>(args.number());
      else if (arg == "--database-url")
        o.database_url = args.value();
      else if (arg == "--rabbitmq-url")
        o.rabbitmq_url = args.value();
      else if (arg == "--rabbitmq-queue-type") {
        auto type = args.value();
        if (type != "quorum" && type != "classic")
          fail("--rabbitmq-queue-type: '" + type
               + "' is neither quorum nor classic");
        o.rabbitmq_queue_type
            = type == "classic" ? QueueType::classic : QueueType::quorum;
      } else
        fail("unknown argument " + arg
             + " (see the comment at the top of bench/queue_bench.cpp)");
    }
  } catch (const std::invalid_argument& e) {
    fail(e.what());
  }
  const auto& command = args.text();
  utsname host{};
  uname(&host);
  std::printf("queue_bench: %s\n", command.c_str());
  std::printf("machine: %s %s, %u cores; messages %d, batch %d, median of %d "
              "runs\n",
              host.sysname, host.machine, std::thread::hardware_concurrency(),
              o.messages, o.batch, o.runs);
  if (o.provider == "in_memory" || o.provider == "all")
    bench_provider("in_memory", MessagingProvider{InMemoryProvider{}}, o);
  if (o.provider == "pgmq" || o.provider == "all") {
    if (o.database_url.empty()) {
      if (o.provider == "pgmq")
        fail("pgmq needs --database-url or TASKER_TEST_DATABASE_URL");
      std::printf("pgmq: skipped (no database URL)\n");
    } else {
      PgmqOptions options;
      options.url = o.database_url;
      auto provider = must(PgmqProvider::connect(options), "connect");
      bench_provider("pgmq", MessagingProvider{std::move(provider)}, o);
    }
  }
  if (o.provider == "rabbitmq" || o.provider == "all") {
    if (o.rabbitmq_url.empty()) {
      if (o.provider == "rabbitmq")
        fail("rabbitmq needs --rabbitmq-url or TASKER_TEST_RABBITMQ_URL");
      std::printf("rabbitmq: skipped (no broker URL)\n");
    } else {
      RabbitMqOptions options;
      options.url = o.rabbitmq_url;
      options.queue_type = o.rabbitmq_queue_type;
      std::printf("rabbitmq: %s queues\n",
                  o.rabbitmq_queue_type == QueueType::classic ? "classic"
                                                              : "quorum");
      auto provider = must(RabbitMqProvider::connect(options), "connect");
      bench_provider("rabbitmq", MessagingProvider{std::move(provider)}, o);
    }
  }
  return 0;
}
