#pragma once

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace tasker::bench {

/// What a `TaskDriver` runs.
struct DriveOptions {
  /// "HOST:PORT" of the orchestration API.
  std::string address;
  /// Tasks under way at once, each on its own keep-alive connection.
  std::size_t in_flight = 1;
  /// Stop after this many tasks finished (0: only the deadline counts).
  std::size_t tasks = 0;
  /// No task is created after it.
  std::chrono::steady_clock::time_point deadline
      = std::chrono::steady_clock::time_point::max();
  /// The body of the n-th `POST /v1/tasks`.
  std::function<std::string(uint64_t)> body;
};

/// What a drive measured: each task's latency, from sending its
/// `POST /v1/tasks` to receiving the answer of its
/// `GET /v1/tasks/{id}?wait_ms=` (which comes when it finished).
struct DriveResult {
  std::vector<double> latencies_ms;
  double seconds = 0;
  std::size_t not_complete = 0;
};

/// Creates tasks through the REST API and waits for each to finish with a
/// long poll, keeping `in_flight` tasks under way, on one thread (Beast's
/// asynchronous client). Throws naming the request on any failure.
class TaskDriver {
 public:
  explicit TaskDriver(DriveOptions options) : options_(std::move(options)) {}

  DriveResult run() {
    namespace net = boost::asio;
    auto colon = options_.address.rfind(':');
    net::ip::tcp::resolver resolver{io_};
    auto endpoints = resolver.resolve(options_.address.substr(0, colon),
                                      options_.address.substr(colon + 1));
    auto start = std::chrono::steady_clock::now();
    for (std::size_t i = 0; i < options_.in_flight; ++i)
      std::make_shared<Loop>(*this, endpoints)->start();
    io_.run();
    result_.seconds = std::chrono::duration<double>(
                          std::chrono::steady_clock::now() - start)
                          .count();
    if (!error_.empty())
      throw std::runtime_error(error_);
    return result_;
  }

 private:
  using Clock = std::chrono::steady_clock;

  // One connection creating a task, waiting for it, and again.
  class Loop : public std::enable_shared_from_this<Loop> {
   public:
    Loop(TaskDriver& driver,
         const boost::asio::ip::tcp::resolver::results_type& endpoints)
        : driver_(driver), stream_(driver.io_), endpoints_(endpoints) {}

    void start() {
      stream_.async_connect(
          endpoints_,
          [self = shared_from_this()](boost::beast::error_code ec,
                                      const boost::asio::ip::tcp::endpoint&) {
            if (ec)
              return self->fail("connect", ec.message());
            self->next();
          });
    }

   private:
    void next() {
      auto n = driver_.take_ticket();
      if (!n)
        return;
      started_ = Clock::now();
      send(boost::beast::http::verb::post, "/v1/tasks",
           driver_.options_.body(*n),
           [this](nlohmann::json body, unsigned status) {
             if (status != 201)
               return fail("POST /v1/tasks", "status " + std::to_string(status)
                                                 + ": " + body.dump());
             auto target = "/v1/tasks/" + body.at("id").get<std::string>()
                           + "?wait_ms=60000";
             send(boost::beast::http::verb::get, target, {},
                  [this](nlohmann::json task, unsigned status) {
                    if (status != 200)
                      return fail("GET task", "status " + std::to_string(status)
                                                  + ": " + task.dump());
                    driver_.finished(std::chrono::duration<double, std::milli>(
                                         Clock::now() - started_)
                                         .count(),
                                     task.at("state").get<std::string>()
                                         == "complete");
                    next();
                  });
           });
    }

    template <class Then>
    void send(boost::beast::http::verb method, const std::string& target,
              std::string body, Then then) {
      namespace http = boost::beast::http;
      request_ = {method, target, 11};
      request_.set(http::field::host, driver_.options_.address);
      request_.set(http::field::content_type, "application/json");
      request_.keep_alive(true);
      request_.body() = std::move(body);
      request_.prepare_payload();
      http::async_write(
          stream_, request_,
          [self = shared_from_this(), then](boost::beast::error_code ec,
                                            std::size_t) mutable {
            if (ec)
              return self->fail("write", ec.message());
            self->response_ = {};
            http::async_read(
                self->stream_, self->buffer_, self->response_,
                [self, then](boost::beast::error_code ec, std::size_t) mutable {
                  if (ec)
                    return self->fail("read", ec.message());
                  auto body = nlohmann::json::parse(self->response_.body(),
                                                    nullptr, false);
                  then(std::move(body), self->response_.result_int());
                });
          });
    }

    void fail(const std::string& what, const std::string& why) {
      driver_.fail(what + " failed: " + why);
    }

    TaskDriver& driver_;
    boost::beast::tcp_stream stream_;
    boost::asio::ip::tcp::resolver::results_type endpoints_;
    boost::beast::flat_buffer buffer_;
    boost::beast::http::request<boost::beast::http::string_body> request_;
    boost::beast::http::response<boost::beast::http::string_body> response_;
    Clock::time_point started_;
  };

  std::optional<uint64_t> take_ticket() {
    if (!error_.empty() || Clock::now() >= options_.deadline
        || (options_.tasks != 0 && issued_ >= options_.tasks))
      return std::nullopt;
    return issued_++;
  }

  void finished(double ms, bool complete) {
    result_.latencies_ms.push_back(ms);
    if (!complete)
      ++result_.not_complete;
  }

  void fail(const std::string& why) {
    if (error_.empty())
      error_ = why;
    io_.stop();
  }

  DriveOptions options_;
  boost::asio::io_context io_;
  DriveResult result_;
  uint64_t issued_ = 0;
  std::string error_;
};

} // namespace tasker::bench
