#include "channels/error_category.hpp"
#include "channels/type_ids.hpp"
#include "core/error.hpp"
#include "tests/unit/channels/channels_fixture.hpp"

#include <caf/error.hpp>
#include <caf/sec.hpp>
#include <caf/type_id.hpp>
#include <caf/uniform_type_info_map.hpp>

#include <doctest/doctest.h>

#include <string>
#include <utility>

namespace tasker::channels {
namespace {

using test::ChannelsFixture;

template <caf::type_id_t... Ids>
void check_registered(caf::actor_system& sys,
                      std::integer_sequence<caf::type_id_t, Ids...>) {
  constexpr auto kBegin = caf::id_block::tasker::begin;
  (
      [&] {
        const char* name = caf::type_name_by_id<kBegin + Ids>::value;
        CAPTURE(name);
        CHECK(sys.types().make_value(name) != nullptr);
      }(),
      ...);
}

TEST_CASE_FIXTURE(ChannelsFixture, "every type of the block is registered") {
  constexpr auto kSize
      = caf::id_block::tasker::end - caf::id_block::tasker::begin;
  static_assert(kSize == 56);
  check_registered(sys, std::make_integer_sequence<caf::type_id_t, kSize>{});
  CHECK(caf::type_id<ExecuteStepFromEvent>::value >= caf::first_custom_type_id);
  CHECK(std::string{caf::type_name<ExecuteStepFromEvent>::value}
        == "tasker::channels::ExecuteStepFromEvent");
}

TEST_CASE("ErrorCode converts to caf::error") {
  caf::error err = core::ErrorCode::backend_unavailable;
  CHECK(err.category() == kErrorCategory);
  CHECK(err.code()
        == static_cast<uint8_t>(core::ErrorCode::backend_unavailable));
  CHECK(err == core::ErrorCode::backend_unavailable);
}

TEST_CASE("core::Error converts both ways") {
  core::Error in{core::ErrorCode::queue_not_found, "no queue named q7"};
  auto err = to_caf_error(in);
  CHECK(err.category() == kErrorCategory);
  CHECK(err == core::ErrorCode::queue_not_found);
  REQUIRE(err.context().match_elements<std::string>());
  CHECK(err.context().get_as<std::string>(0) == "no queue named q7");
  auto out = from_caf_error(err);
  CHECK(out.code() == in.code());
  CHECK(out.message() == in.message());
}

TEST_CASE("every ErrorCode survives the conversion") {
  for (auto code = static_cast<uint8_t>(core::ErrorCode::invalid_config);
       code <= static_cast<uint8_t>(core::ErrorCode::internal); ++code) {
    core::Error in{static_cast<core::ErrorCode>(code), "m"};
    auto out = from_caf_error(to_caf_error(in));
    CHECK(out.code() == in.code());
    CHECK(out.message() == "m");
  }
}

TEST_CASE("no error and foreign errors convert back") {
  CHECK_FALSE(to_caf_error(core::Error{}));
  CHECK(from_caf_error(caf::error{}).code() == core::ErrorCode::none);
  auto timeout = from_caf_error(caf::make_error(caf::sec::request_timeout));
  CHECK(timeout.code() == core::ErrorCode::timeout);
  CHECK(timeout.message().find("request_timeout") != std::string::npos);
  auto other = from_caf_error(caf::make_error(caf::sec::runtime_error));
  CHECK(other.code() == core::ErrorCode::internal);
  CHECK(other.message().find("runtime_error") != std::string::npos);
}

TEST_CASE_FIXTURE(ChannelsFixture, "tasker errors render readably") {
  auto err = to_caf_error(
      core::Error{core::ErrorCode::queue_not_found, "no queue named q7"});
  CHECK(sys.render(err) == "tasker: queue_not_found (no queue named q7)");
  CHECK(sys.render(caf::error{core::ErrorCode::timeout}) == "tasker: timeout");
}

TEST_CASE_FIXTURE(ChannelsFixture, "errors keep code and message on the wire") {
  core::Error in{core::ErrorCode::stale_transition, "step s1 is complete"};
  auto out = binary_round_trip(to_caf_error(in));
  CHECK(from_caf_error(out).code() == in.code());
  CHECK(from_caf_error(out).message() == in.message());
}

} // namespace
} // namespace tasker::channels
