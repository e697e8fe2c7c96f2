#include "messaging/rabbitmq/amqp_session.hpp"

#include "messaging/rabbitmq/amqp_errors.hpp"

#include <algorithm>
#include <limits>

#include <amqp_ssl_socket.h>
#include <amqp_tcp_socket.h>

namespace tasker::messaging {

namespace {

using core::Error;
using core::ErrorCode;

constexpr amqp_channel_t kPublishChannel = 1;
constexpr amqp_channel_t kAdminChannel = 2;
constexpr int kFrameMax = 131072;

amqp_bytes_t bytes_of(std::string_view text) {
  return {text.size(), const_cast<char*>(text.data())};
}

timeval to_timeval(std::chrono::milliseconds ms) {
  auto count = std::max<int64_t>(ms.count(), 0);
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(count / 1000);
  tv.tv_usec = static_cast<suseconds_t>((count % 1000) * 1000);
  return tv;
}

amqp_table_entry_t text_entry(const char* key, std::string_view value) {
  amqp_table_entry_t entry{};
  entry.key = amqp_cstring_bytes(key);
  entry.value.kind = AMQP_FIELD_KIND_UTF8;
  entry.value.value.bytes = bytes_of(value);
  return entry;
}

} // namespace

core::Result<std::unique_ptr<AmqpSession>>
AmqpSession::open(const RabbitMqOptions& options, std::string_view name) {
  // amqp_parse_url cuts the buffer into the fields `info` points to.
  std::vector<char> url(options.url.begin(), options.url.end());
  url.push_back('\0');
  amqp_connection_info info;
  amqp_default_connection_info(&info);
  if (amqp_parse_url(url.data(), &info) != AMQP_STATUS_OK)
    return Error{ErrorCode::invalid_config,
                 "rabbitmq url is not of the form "
                 "amqp[s]://user:password@host:port/vhost"};
  auto where = std::string{"connect to "} + info.host + ':'
               + std::to_string(info.port);
  auto* connection = amqp_new_connection();
  if (connection == nullptr)
    return Error{ErrorCode::internal,
                 amqp_context(where, "") + ": out of memory"};
  std::unique_ptr<AmqpSession> session{new AmqpSession(connection)};
  session->timeout_ = options.connection_timeout;

  auto* socket = info.ssl ? amqp_ssl_socket_new(connection)
                          : amqp_tcp_socket_new(connection);
  if (socket == nullptr)
    return Error{ErrorCode::internal,
                 amqp_context(where, "") + ": cannot create the socket"};
  if (info.ssl) {
    amqp_ssl_socket_set_verify_peer(socket, options.tls_verify_peer);
    amqp_ssl_socket_set_verify_hostname(socket, options.tls_verify_peer);
    if (options.tls_verify_peer
        && amqp_ssl_socket_set_cacert(socket, options.tls_ca_file.c_str())
               != AMQP_STATUS_OK)
      return Error{ErrorCode::invalid_config, amqp_context(where, "")
                                                  + ": cannot read CA file '"
                                                  + options.tls_ca_file + "'"};
  }
  auto timeout = to_timeval(options.connection_timeout);
  if (auto opened = check_status(
          amqp_socket_open_noblock(socket, info.host, info.port, &timeout),
          where, "");
      !opened)
    return opened.error();
  amqp_set_handshake_timeout(connection, &timeout);
  amqp_set_rpc_timeout(connection, &timeout);

  amqp_table_entry_t capability{};
  capability.key = amqp_cstring_bytes("consumer_cancel_notify");
  capability.value.kind = AMQP_FIELD_KIND_BOOLEAN;
  capability.value.value.boolean = 1;
  amqp_table_entry_t properties[2] = {text_entry("connection_name", name), {}};
  properties[1].key = amqp_cstring_bytes("capabilities");
  properties[1].value.kind = AMQP_FIELD_KIND_TABLE;
  properties[1].value.value.table = {1, &capability};
  amqp_table_t client_properties{2, properties};
  auto heartbeat = static_cast<int>(options.heartbeat.count());
  auto login = amqp_login_with_properties(
      connection, info.vhost, 0, kFrameMax, heartbeat, &client_properties,
      AMQP_SASL_METHOD_PLAIN, info.user, info.password);
  if (auto logged_in = check_amqp(login, "login (" + where + ")", "");
      !logged_in)
    return logged_in.error();
  session->logged_in_ = true;
  if (auto ready = session->ensure_publish_channel(""); !ready)
    return ready.error();
  if (auto ready = session->ensure_admin_channel(""); !ready)
    return ready.error();
  return session;
}

AmqpSession::AmqpSession(amqp_connection_state_t connection)
    : connection_(connection) {}

AmqpSession::~AmqpSession() {
  if (logged_in_ && healthy_)
    amqp_connection_close(connection_, AMQP_REPLY_SUCCESS);
  amqp_destroy_connection(connection_);
}

int AmqpSession::fd() const {
  return amqp_get_sockfd(connection_);
}

bool AmqpSession::has_buffered_input() const {
  return !deliveries_.empty() || amqp_frames_enqueued(connection_)
         || amqp_data_in_buffer(connection_);
}

// -- admin channel ------------------------------------------------------------

core::Result<void>
AmqpSession::declare_queue(const QueueDeclaration& declaration) {
  if (auto ready = ensure_admin_channel(declaration.name); !ready)
    return ready;
  std::vector<amqp_table_entry_t> entries;
  for (const auto& [key, value] : declaration.arguments) {
    amqp_table_entry_t entry{};
    entry.key = bytes_of(key);
    if (auto text = std::get_if<std::string>(&value)) {
      entry.value.kind = AMQP_FIELD_KIND_UTF8;
      entry.value.value.bytes = bytes_of(*text);
    } else {
      entry.value.kind = AMQP_FIELD_KIND_I64;
      entry.value.value.i64 = std::get<int64_t>(value);
    }
    entries.push_back(entry);
  }
  amqp_table_t arguments{static_cast<int>(entries.size()), entries.data()};
  amqp_queue_declare(connection_, kAdminChannel, bytes_of(declaration.name),
                     /*passive*/ 0, /*durable*/ 1, /*exclusive*/ 0,
                     /*auto_delete*/ 0, arguments);
  return settle_last(kAdminChannel, "queue.declare", declaration.name);
}

core::Result<std::optional<uint32_t>>
AmqpSession::inspect_queue(const std::string& queue) {
  if (auto ready = ensure_admin_channel(queue); !ready)
    return ready.error();
  auto* ok = amqp_queue_declare(connection_, kAdminChannel, bytes_of(queue),
                                /*passive*/ 1, 0, 0, 0, amqp_empty_table);
  auto count = ok != nullptr ? ok->message_count : 0;
  auto checked = settle_last(kAdminChannel, "queue.declare (passive)", queue);
  if (checked)
    return std::optional<uint32_t>{count};
  if (checked.error().code() == ErrorCode::queue_not_found)
    return std::optional<uint32_t>{};
  return checked.error();
}

core::Result<void> AmqpSession::declare_exchange(const std::string& exchange,
                                                 const char* type,
                                                 std::string_view queue) {
  if (auto ready = ensure_admin_channel(queue); !ready)
    return ready;
  amqp_exchange_declare(connection_, kAdminChannel, bytes_of(exchange),
                        amqp_cstring_bytes(type), /*passive*/ 0,
                        /*durable*/ 1, /*auto_delete*/ 0, /*internal*/ 0,
                        amqp_empty_table);
  return settle_last(kAdminChannel, "exchange.declare '" + exchange + "'",
                     queue);
}

core::Result<void> AmqpSession::bind_queue(const std::string& queue,
                                           const std::string& exchange,
                                           const std::string& routing_key) {
  if (auto ready = ensure_admin_channel(queue); !ready)
    return ready;
  amqp_queue_bind(connection_, kAdminChannel, bytes_of(queue),
                  bytes_of(exchange), bytes_of(routing_key), amqp_empty_table);
  return settle_last(kAdminChannel, "queue.bind to '" + exchange + "'", queue);
}

core::Result<void> AmqpSession::delete_queue(const std::string& queue) {
  if (auto ready = ensure_admin_channel(queue); !ready)
    return ready;
  amqp_queue_delete(connection_, kAdminChannel, bytes_of(queue),
                    /*if_unused*/ 0, /*if_empty*/ 0);
  return settle_last(kAdminChannel, "queue.delete", queue);
}

core::Result<void> AmqpSession::delete_exchange(const std::string& exchange,
                                                std::string_view queue) {
  if (auto ready = ensure_admin_channel(queue); !ready)
    return ready;
  amqp_exchange_delete(connection_, kAdminChannel, bytes_of(exchange),
                       /*if_unused*/ 0);
  return settle_last(kAdminChannel, "exchange.delete '" + exchange + "'",
                     queue);
}

// -- publish channel ----------------------------------------------------------

core::Result<void>
AmqpSession::publish(std::span<const Publication> publications) {
  if (publications.empty())
    return {};
  auto queue = publications.front().queue;
  if (auto ready = ensure_publish_channel(queue); !ready)
    return ready;
  returned_.clear();
  refused_ = false;
  for (const auto& publication : publications) {
    EncodedProperties properties{*publication.message};
    auto status = amqp_basic_publish(
        connection_, kPublishChannel, amqp_empty_bytes,
        bytes_of(publication.queue), /*mandatory*/ 1, /*immediate*/ 0,
        properties.get(), bytes_of(publication.message->body));
    if (auto sent = check_status(status, "basic.publish", publication.queue);
        !sent)
      return fail(sent.error());
    unconfirmed_.insert(next_publish_tag_++);
  }
  return wait_for_confirms(queue);
}

core::Result<void> AmqpSession::wait_for_confirms(std::string_view queue) {
  using std::chrono::steady_clock;
  auto deadline = steady_clock::now() + timeout_;
  while (!unconfirmed_.empty()) {
    if (!healthy_)
      return failure_;
    if (!publish_open_) {
      unconfirmed_.clear();
      return Error{ErrorCode::backend_error,
                   amqp_context("basic.publish", queue)
                       + ": the broker closed the publish channel"};
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - steady_clock::now());
    if (left.count() <= 0)
      return fail(Error{ErrorCode::backend_unavailable,
                        amqp_context("basic.publish", queue)
                            + ": no publisher confirm within "
                            + std::to_string(timeout_.count()) + " ms"});
    auto wait = to_timeval(left);
    amqp_frame_t frame;
    auto status = amqp_simple_wait_frame_noblock(connection_, &frame, &wait);
    if (status == AMQP_STATUS_TIMEOUT)
      continue;
    if (auto read = check_status(status, "basic.publish", queue); !read)
      return fail(read.error());
    handle_frame(frame);
  }
  amqp_maybe_release_buffers(connection_);
  if (!returned_.empty()) {
    auto target = std::move(returned_.front());
    returned_.clear();
    return Error{ErrorCode::queue_not_found,
                 amqp_context("basic.publish", target)
                     + ": the queue does not exist (message returned)"};
  }
  if (refused_) {
    refused_ = false;
    return Error{ErrorCode::backend_error,
                 amqp_context("basic.publish", queue)
                     + ": the broker refused the message (basic.nack)"};
  }
  return {};
}

void AmqpSession::settle_confirms(uint64_t tag, bool multiple, bool refused) {
  auto first = unconfirmed_.begin();
  auto last = unconfirmed_.end();
  if (multiple) {
    if (tag != 0)
      last = unconfirmed_.upper_bound(tag);
  } else {
    first = unconfirmed_.find(tag);
    if (first == unconfirmed_.end())
      return;
    last = std::next(first);
  }
  if (refused && first != last)
    refused_ = true;
  unconfirmed_.erase(first, last);
}

// -- queue channels -----------------------------------------------------------

core::Result<std::optional<Delivery>>
AmqpSession::get(const std::string& queue) {
  auto channel = queue_channel(queue);
  if (!channel)
    return channel.error();
  auto reply = amqp_basic_get(connection_, *channel, bytes_of(queue),
                              /*no_ack*/ 0);
  if (auto ok = settle(reply, *channel, "basic.get", queue); !ok)
    return ok.error();
  if (reply.reply.id != AMQP_BASIC_GET_OK_METHOD)
    return std::optional<Delivery>{};
  auto* got = static_cast<amqp_basic_get_ok_t*>(reply.reply.decoded);
  auto tag = got->delivery_tag;
  bool redelivered = got->redelivered != 0;
  amqp_message_t message;
  auto read = amqp_read_message(connection_, *channel, &message, 0);
  if (auto ok = check_amqp(read, "basic.get", queue); !ok)
    return fail(ok.error());
  auto delivery = decode_delivery(message.properties, message.body);
  amqp_destroy_message(&message);
  amqp_maybe_release_buffers(connection_);
  delivery.queue = queue;
  delivery.channel = *channel;
  delivery.delivery_tag = tag;
  delivery.redelivered = redelivered;
  return std::optional<Delivery>{std::move(delivery)};
}

core::Result<void> AmqpSession::ack(const std::string& queue,
                                    amqp_channel_t channel,
                                    uint64_t delivery_tag) {
  if (!healthy_)
    return failure_;
  auto status = amqp_basic_ack(connection_, channel, delivery_tag, 0);
  if (auto sent = check_status(status, "basic.ack", queue); !sent)
    return fail(sent.error());
  return {};
}

core::Result<void> AmqpSession::nack(const std::string& queue,
                                     amqp_channel_t channel,
                                     uint64_t delivery_tag, bool requeue) {
  if (!healthy_)
    return failure_;
  auto status
      = amqp_basic_nack(connection_, channel, delivery_tag, 0, requeue ? 1 : 0);
  if (auto sent = check_status(status, "basic.nack", queue); !sent)
    return fail(sent.error());
  return {};
}

core::Result<void> AmqpSession::consume(const std::string& queue,
                                        int32_t prefetch) {
  auto channel = queue_channel(queue);
  if (!channel)
    return channel.error();
  auto count = static_cast<uint16_t>(
      std::clamp<int32_t>(prefetch, 1, std::numeric_limits<uint16_t>::max()));
  amqp_basic_qos(connection_, *channel, 0, count, /*global*/ 0);
  if (auto ok = settle_last(*channel, "basic.qos", queue); !ok)
    return ok;
  amqp_basic_consume(connection_, *channel, bytes_of(queue), amqp_empty_bytes,
                     /*no_local*/ 0, /*no_ack*/ 0, /*exclusive*/ 0,
                     amqp_empty_table);
  return settle_last(*channel, "basic.consume", queue);
}

void AmqpSession::close_queue_channel(const std::string& queue) {
  auto it = queue_channels_.find(queue);
  if (it == queue_channels_.end() || !healthy_)
    return;
  auto channel = it->second;
  auto reply = amqp_channel_close(connection_, channel, AMQP_REPLY_SUCCESS);
  if (reply.reply_type == AMQP_RESPONSE_NORMAL) {
    queue_channels_.erase(it);
    channel_queues_.erase(channel);
    free_channels_.push_back(channel);
    return;
  }
  (void)settle(reply, channel, "channel.close", queue);
}

// -- input --------------------------------------------------------------------

core::Result<void> AmqpSession::read_input(std::chrono::milliseconds timeout,
                                           std::vector<Delivery>& out) {
  auto first_wait = to_timeval(timeout);
  bool first = true;
  while (healthy_) {
    timeval no_wait{};
    amqp_frame_t frame;
    auto status = amqp_simple_wait_frame_noblock(
        connection_, &frame, first ? &first_wait : &no_wait);
    first = false;
    if (status == AMQP_STATUS_TIMEOUT)
      break;
    if (auto read = check_status(status, "read", ""); !read) {
      fail(read.error());
      break;
    }
    handle_frame(frame);
  }
  std::move(deliveries_.begin(), deliveries_.end(), std::back_inserter(out));
  deliveries_.clear();
  if (!healthy_)
    return failure_;
  amqp_maybe_release_buffers(connection_);
  return {};
}

std::vector<amqp_channel_t> AmqpSession::take_lost_channels() {
  return std::exchange(lost_channels_, {});
}

void AmqpSession::handle_frame(const amqp_frame_t& frame) {
  if (frame.frame_type != AMQP_FRAME_METHOD)
    return;
  auto channel = frame.channel;
  const auto& method = frame.payload.method;
  switch (method.id) {
    case AMQP_BASIC_DELIVER_METHOD: {
      auto* deliver = static_cast<amqp_basic_deliver_t*>(method.decoded);
      auto tag = deliver->delivery_tag;
      bool redelivered = deliver->redelivered != 0;
      auto queue = channel_queues_.find(channel);
      amqp_message_t message;
      auto read = amqp_read_message(connection_, channel, &message, 0);
      if (auto ok
          = check_amqp(read, "basic.deliver",
                       queue == channel_queues_.end() ? "" : queue->second);
          !ok) {
        fail(ok.error());
        return;
      }
      // A delivery racing the close of its channel cannot be acked: drop it.
      if (queue != channel_queues_.end()) {
        auto delivery = decode_delivery(message.properties, message.body);
        delivery.queue = queue->second;
        delivery.channel = channel;
        delivery.delivery_tag = tag;
        delivery.redelivered = redelivered;
        deliveries_.push_back(std::move(delivery));
      }
      amqp_destroy_message(&message);
      return;
    }
    case AMQP_BASIC_ACK_METHOD: {
      auto* ack = static_cast<amqp_basic_ack_t*>(method.decoded);
      settle_confirms(ack->delivery_tag, ack->multiple != 0, false);
      return;
    }
    case AMQP_BASIC_NACK_METHOD: {
      auto* nack = static_cast<amqp_basic_nack_t*>(method.decoded);
      settle_confirms(nack->delivery_tag, nack->multiple != 0, true);
      return;
    }
    case AMQP_BASIC_RETURN_METHOD: {
      auto* returned = static_cast<amqp_basic_return_t*>(method.decoded);
      auto target = to_string(returned->routing_key);
      amqp_message_t message;
      auto read = amqp_read_message(connection_, channel, &message, 0);
      if (auto ok = check_amqp(read, "basic.return", target); !ok) {
        fail(ok.error());
        return;
      }
      amqp_destroy_message(&message);
      returned_.push_back(std::move(target));
      return;
    }
    case AMQP_BASIC_CANCEL_METHOD:
      if (channel_queues_.contains(channel))
        lost_channels_.push_back(channel);
      return;
    case AMQP_CHANNEL_CLOSE_METHOD: {
      amqp_channel_close_ok_t ok{};
      auto status = amqp_send_method(connection_, channel,
                                     AMQP_CHANNEL_CLOSE_OK_METHOD, &ok);
      if (auto sent = check_status(status, "channel.close-ok", ""); !sent)
        fail(sent.error());
      forget_channel(channel);
      return;
    }
    case AMQP_CONNECTION_CLOSE_METHOD: {
      auto* close = static_cast<amqp_connection_close_t*>(method.decoded);
      auto text = to_string(close->reply_text);
      amqp_connection_close_ok_t ok{};
      (void)amqp_send_method(connection_, 0, AMQP_CONNECTION_CLOSE_OK_METHOD,
                             &ok);
      fail(Error{ErrorCode::backend_unavailable,
                 "rabbitmq: the broker closed the connection: " + text});
      return;
    }
    default: return;
  }
}

// -- channels and replies -----------------------------------------------------

core::Result<void> AmqpSession::open_channel(amqp_channel_t channel,
                                             std::string_view queue) {
  if (!healthy_)
    return failure_;
  amqp_channel_open(connection_, channel);
  return settle_last(channel, "channel.open", queue);
}

core::Result<void> AmqpSession::ensure_admin_channel(std::string_view queue) {
  if (admin_open_)
    return healthy_ ? core::Result<void>{} : core::Result<void>{failure_};
  if (auto opened = open_channel(kAdminChannel, queue); !opened)
    return opened;
  admin_open_ = true;
  return {};
}

core::Result<void> AmqpSession::ensure_publish_channel(std::string_view queue) {
  if (publish_open_)
    return healthy_ ? core::Result<void>{} : core::Result<void>{failure_};
  if (auto opened = open_channel(kPublishChannel, queue); !opened)
    return opened;
  amqp_confirm_select(connection_, kPublishChannel);
  if (auto selected = settle_last(kPublishChannel, "confirm.select", queue);
      !selected)
    return selected;
  next_publish_tag_ = 1;
  unconfirmed_.clear();
  publish_open_ = true;
  return {};
}

core::Result<amqp_channel_t>
AmqpSession::queue_channel(const std::string& queue) {
  if (!healthy_)
    return failure_;
  if (auto it = queue_channels_.find(queue); it != queue_channels_.end())
    return it->second;
  amqp_channel_t channel = next_channel_;
  if (!free_channels_.empty()) {
    channel = free_channels_.back();
    free_channels_.pop_back();
  } else {
    ++next_channel_;
  }
  if (auto opened = open_channel(channel, queue); !opened) {
    free_channels_.push_back(channel);
    return opened.error();
  }
  queue_channels_[queue] = channel;
  channel_queues_[channel] = queue;
  return channel;
}

core::Result<void> AmqpSession::settle_last(amqp_channel_t channel,
                                            std::string_view operation,
                                            std::string_view queue) {
  return settle(amqp_get_rpc_reply(connection_), channel, operation, queue);
}

core::Result<void> AmqpSession::settle(const amqp_rpc_reply_t& reply,
                                       amqp_channel_t channel,
                                       std::string_view operation,
                                       std::string_view queue) {
  auto checked = check_amqp(reply, operation, queue);
  if (checked)
    return checked;
  bool server = reply.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION;
  if (server && reply.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
    amqp_channel_close_ok_t ok{};
    auto status = amqp_send_method(connection_, channel,
                                   AMQP_CHANNEL_CLOSE_OK_METHOD, &ok);
    if (auto sent = check_status(status, "channel.close-ok", queue); !sent)
      fail(sent.error());
    forget_channel(channel);
    return checked;
  }
  if (server && reply.reply.id == AMQP_CONNECTION_CLOSE_METHOD) {
    amqp_connection_close_ok_t ok{};
    (void)amqp_send_method(connection_, 0, AMQP_CONNECTION_CLOSE_OK_METHOD,
                           &ok);
  }
  return fail(checked.error());
}

core::Error AmqpSession::fail(core::Error error) {
  if (healthy_) {
    healthy_ = false;
    failure_ = error;
  }
  return error;
}

void AmqpSession::forget_channel(amqp_channel_t channel) {
  if (channel == kPublishChannel) {
    publish_open_ = false;
    return;
  }
  if (channel == kAdminChannel) {
    admin_open_ = false;
    return;
  }
  auto it = channel_queues_.find(channel);
  if (it == channel_queues_.end())
    return;
  queue_channels_.erase(it->second);
  channel_queues_.erase(it);
  free_channels_.push_back(channel);
  lost_channels_.push_back(channel);
}

} // namespace tasker::messaging
