#include "web/http_listener.hpp"

#include "core/logger.hpp"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core/bind_handler.hpp>

#include <chrono>

namespace tasker::web {

namespace net = boost::asio;

namespace {

constexpr std::chrono::milliseconds accept_retry_delay{100};

} // namespace

HttpListener::HttpListener(
    std::vector<net::io_context*> contexts, net::ip::tcp::acceptor acceptor,
    std::shared_ptr<const HttpSession::Settings> settings)
    : contexts_(std::move(contexts)), acceptor_(std::move(acceptor)),
      retry_timer_(acceptor_.get_executor()), settings_(std::move(settings)) {}

void HttpListener::start() {
  net::dispatch(acceptor_.get_executor(),
                boost::beast::bind_front_handler(&HttpListener::accept,
                                                 shared_from_this()));
}

void HttpListener::stop(std::function<void()> stopped) {
  net::post(acceptor_.get_executor(),
            [self = shared_from_this(), stopped = std::move(stopped)] {
              self->stopping_ = true;
              boost::beast::error_code ignored;
              self->acceptor_.close(ignored);
              self->retry_timer_.cancel();
              for (const auto& weak : self->sessions_)
                if (auto session = weak.lock())
                  session->shut_down();
              self->sessions_.clear();
              stopped();
            });
}

void HttpListener::accept() {
  if (stopping_)
    return;
  // Each connection gets its own strand (its handlers never run at once),
  // on the io_contexts in turn.
  auto& context = *contexts_[next_context_];
  next_context_ = (next_context_ + 1) % contexts_.size();
  acceptor_.async_accept(net::make_strand(context),
                         boost::beast::bind_front_handler(
                             &HttpListener::on_accept, shared_from_this()));
}

void HttpListener::on_accept(boost::beast::error_code ec,
                             net::ip::tcp::socket socket) {
  if (stopping_)
    return;
  if (ec) {
    core::log_warn("http", "cannot accept a connection: " + ec.message());
    retry_timer_.expires_after(accept_retry_delay);
    retry_timer_.async_wait(
        [self = shared_from_this()](boost::beast::error_code) {
          self->accept();
        });
    return;
  }
  auto session = std::make_shared<HttpSession>(std::move(socket), settings_);
  std::erase_if(sessions_, [](const auto& weak) {
    return weak.expired();
  });
  sessions_.push_back(session);
  session->start();
  accept();
}

} // namespace tasker::web
