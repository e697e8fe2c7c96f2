#include "core/result.hpp"

#include <doctest/doctest.h>

#include <string>

using tasker::core::Error;
using tasker::core::ErrorCode;
using tasker::core::Result;

TEST_CASE("a result holds either a value or an error") {
  Result<int> good{42};
  CHECK(good.ok());
  CHECK(*good == 42);
  Result<int> bad{Error{ErrorCode::not_found, "task 7"}};
  CHECK_FALSE(bad.ok());
  CHECK(bad.error().code() == ErrorCode::not_found);
  CHECK(bad.error().to_string() == "not_found: task 7");
}

TEST_CASE("reading the value of a failed result is a logic error") {
  Result<std::string> bad{Error{ErrorCode::internal, "boom"}};
  CHECK_THROWS_AS(bad.value(), std::logic_error);
  Result<std::string> good{std::string{"x"}};
  CHECK_THROWS_AS(good.error(), std::logic_error);
}

TEST_CASE("a void result is ok unless it carries an error") {
  Result<void> good;
  CHECK(good.ok());
  Result<void> bad{Error{ErrorCode::timeout, "slow"}};
  CHECK_FALSE(bad.ok());
  CHECK(bad.error().code() == ErrorCode::timeout);
}
