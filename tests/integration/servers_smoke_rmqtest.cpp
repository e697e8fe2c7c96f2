// Proves the test broker is a real, usable RabbitMQ server.
#include <doctest/doctest.h>

#include <chrono>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <amqp.h>
#include <amqp_tcp_socket.h>

#include "tests/integration/test_servers.hpp"

using tasker::testing::rabbitmq_url;
using tasker::testing::unique_name;

namespace {

constexpr amqp_channel_t channel = 1;

std::string to_string(amqp_bytes_t bytes) {
  return {static_cast<const char*>(bytes.bytes), bytes.len};
}

std::string describe(const amqp_rpc_reply_t& reply) {
  switch (reply.reply_type) {
    case AMQP_RESPONSE_NORMAL: return "ok";
    case AMQP_RESPONSE_NONE: return "no reply";
    case AMQP_RESPONSE_LIBRARY_EXCEPTION:
      return std::string{"library error: "}
             + amqp_error_string2(reply.library_error);
    case AMQP_RESPONSE_SERVER_EXCEPTION:
      if (reply.reply.id == AMQP_CONNECTION_CLOSE_METHOD) {
        auto* m = static_cast<amqp_connection_close_t*>(reply.reply.decoded);
        return "connection closed by server: " + to_string(m->reply_text);
      }
      if (reply.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
        auto* m = static_cast<amqp_channel_close_t*>(reply.reply.decoded);
        return "channel closed by server: " + to_string(m->reply_text);
      }
      return "server error, method " + std::to_string(reply.reply.id);
  }
  return "unknown reply";
}

// A logged-in AMQP connection with channel 1 open; closes it all on exit.
class broker_session {
 public:
  broker_session() : conn_(amqp_new_connection()) {
    REQUIRE(conn_ != nullptr);
    auto url = rabbitmq_url();
    std::vector<char> buf(url.begin(), url.end());
    buf.push_back('\0');
    amqp_connection_info info;
    amqp_default_connection_info(&info);
    REQUIRE_MESSAGE(amqp_parse_url(buf.data(), &info) == AMQP_STATUS_OK,
                    "cannot parse " << url);
    auto* socket = amqp_tcp_socket_new(conn_);
    REQUIRE(socket != nullptr);
    timeval timeout{10, 0};
    int status
        = amqp_socket_open_noblock(socket, info.host, info.port, &timeout);
    REQUIRE_MESSAGE(status == AMQP_STATUS_OK,
                    "cannot connect to " << info.host << ':' << info.port
                                         << ": " << amqp_error_string2(status));
    auto login = amqp_login(conn_, info.vhost, 0, 131072, 0,
                            AMQP_SASL_METHOD_PLAIN, info.user, info.password);
    REQUIRE_MESSAGE(login.reply_type == AMQP_RESPONSE_NORMAL,
                    "login failed: " << describe(login));
    logged_in_ = true;
    amqp_channel_open(conn_, channel);
    auto open = amqp_get_rpc_reply(conn_);
    REQUIRE_MESSAGE(open.reply_type == AMQP_RESPONSE_NORMAL,
                    "channel.open failed: " << describe(open));
    channel_open_ = true;
  }

  ~broker_session() {
    if (channel_open_)
      amqp_channel_close(conn_, channel, AMQP_REPLY_SUCCESS);
    if (logged_in_)
      amqp_connection_close(conn_, AMQP_REPLY_SUCCESS);
    amqp_destroy_connection(conn_);
  }

  broker_session(const broker_session&) = delete;
  broker_session& operator=(const broker_session&) = delete;

  amqp_connection_state_t get() const {
    return conn_;
  }

  // The reply to the last synchronous method, required to be normal.
  void require_ok(const char* what) const {
    auto reply = amqp_get_rpc_reply(conn_);
    REQUIRE_MESSAGE(reply.reply_type == AMQP_RESPONSE_NORMAL,
                    what << " failed: " << describe(reply));
  }

 private:
  amqp_connection_state_t conn_;
  bool logged_in_ = false;
  bool channel_open_ = false;
};

} // namespace

TEST_CASE("the test broker is a RabbitMQ server that accepts guest") {
  broker_session session;
  auto* props = amqp_get_server_properties(session.get());
  REQUIRE(props != nullptr);
  std::string product;
  for (int i = 0; i < props->num_entries; ++i) {
    const auto& entry = props->entries[i];
    if (to_string(entry.key) == "product"
        && entry.value.kind == AMQP_FIELD_KIND_UTF8)
      product = to_string(entry.value.value.bytes);
  }
  CHECK(product == "RabbitMQ");
}

TEST_CASE("a message published to a fresh queue can be fetched back") {
  broker_session session;
  auto* conn = session.get();
  auto queue = unique_name("tasker_smoke");
  auto queue_bytes = amqp_cstring_bytes(queue.c_str());

  auto* declared = amqp_queue_declare(conn, channel, queue_bytes,
                                      /*passive*/ 0, /*durable*/ 0,
                                      /*exclusive*/ 0, /*auto_delete*/ 1,
                                      amqp_empty_table);
  session.require_ok("queue.declare");
  REQUIRE(declared != nullptr);
  CHECK(to_string(declared->queue) == queue);
  CHECK(declared->message_count == 0);

  const std::string body = R"({"task":"smoke","step":1})";
  amqp_basic_properties_t props{};
  props._flags = AMQP_BASIC_CONTENT_TYPE_FLAG | AMQP_BASIC_DELIVERY_MODE_FLAG;
  props.content_type = amqp_cstring_bytes("application/json");
  props.delivery_mode = 1; // transient
  int status = amqp_basic_publish(
      conn, channel, amqp_empty_bytes, queue_bytes, /*mandatory*/ 0,
      /*immediate*/ 0, &props, amqp_cstring_bytes(body.c_str()));
  REQUIRE_MESSAGE(status == AMQP_STATUS_OK,
                  "basic.publish failed: " << amqp_error_string2(status));

  // Methods on one channel are handled in order, so the message is queued
  // before basic.get is; the retry only guards against a slow broker.
  std::string fetched;
  std::string content_type;
  using clock = std::chrono::steady_clock;
  auto deadline = clock::now() + std::chrono::seconds{10};
  for (;;) {
    auto reply = amqp_basic_get(conn, channel, queue_bytes, /*no_ack*/ 1);
    REQUIRE_MESSAGE(reply.reply_type == AMQP_RESPONSE_NORMAL,
                    "basic.get failed: " << describe(reply));
    if (reply.reply.id == AMQP_BASIC_GET_OK_METHOD) {
      amqp_message_t message;
      auto read = amqp_read_message(conn, channel, &message, 0);
      REQUIRE_MESSAGE(read.reply_type == AMQP_RESPONSE_NORMAL,
                      "reading the message failed: " << describe(read));
      fetched = to_string(message.body);
      if (message.properties._flags & AMQP_BASIC_CONTENT_TYPE_FLAG)
        content_type = to_string(message.properties.content_type);
      amqp_destroy_message(&message);
      break;
    }
    REQUIRE_MESSAGE(reply.reply.id == AMQP_BASIC_GET_EMPTY_METHOD,
                    "unexpected reply to basic.get: " << reply.reply.id);
    REQUIRE_MESSAGE(clock::now() < deadline,
                    "the message never arrived in " << queue);
    std::this_thread::sleep_for(std::chrono::milliseconds{50});
  }
  CHECK(fetched == body);
  CHECK(content_type == "application/json");

  auto* deleted = amqp_queue_delete(conn, channel, queue_bytes,
                                    /*if_unused*/ 0, /*if_empty*/ 0);
  session.require_ok("queue.delete");
  REQUIRE(deleted != nullptr);
  CHECK(deleted->message_count == 0);
}
