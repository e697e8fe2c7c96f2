#include "channels/error_category.hpp"

#include <caf/message.hpp>
#include <caf/sec.hpp>

#include <string>

namespace tasker::channels {

namespace {

constexpr uint8_t kLastCode = static_cast<uint8_t>(core::ErrorCode::internal);

// The message `to_caf_error` stored as context, or the whole context
// rendered when someone else built the error.
std::string context_text(const caf::message& ctx) {
  if (ctx.empty())
    return {};
  if (ctx.match_elements<std::string>())
    return ctx.get_as<std::string>(0);
  return caf::to_string(ctx);
}

} // namespace

void register_error_category(caf::actor_system_config& cfg) {
  cfg.add_error_category(kErrorCategory, [](uint8_t code, caf::atom_value,
                                            const caf::message& ctx) {
    std::string out = "tasker: ";
    out += core::to_string(static_cast<core::ErrorCode>(code));
    if (auto text = context_text(ctx); !text.empty()) {
      out += " (";
      out += text;
      out += ')';
    }
    return out;
  });
}

caf::error to_caf_error(const core::Error& err) {
  if (err.code() == core::ErrorCode::none)
    return caf::error{};
  return caf::make_error(err.code(), err.message());
}

core::Error from_caf_error(const caf::error& err) {
  if (!err)
    return core::Error{};
  if (err.category() == kErrorCategory && err.code() <= kLastCode)
    return core::Error{static_cast<core::ErrorCode>(err.code()),
                       context_text(err.context())};
  if (err == caf::sec::request_timeout)
    return core::Error{core::ErrorCode::timeout, caf::to_string(err)};
  return core::Error{core::ErrorCode::internal, caf::to_string(err)};
}

} // namespace tasker::channels
