#pragma once

#include "core/error.hpp"

#include <stdexcept>
#include <type_traits>
#include <utility>
#include <variant>

namespace tasker::core {

/// A value or an `Error` (C++20 has no `std::expected`). Accessing the value
/// of a failed result throws `std::logic_error`: that is a bug, not a path.
template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : state_(std::in_place_index<0>, std::move(value)) {}

  Result(Error error) : state_(std::in_place_index<1>, std::move(error)) {}

  bool ok() const noexcept {
    return state_.index() == 0;
  }

  explicit operator bool() const noexcept {
    return ok();
  }

  T& value() & {
    check();
    return std::get<0>(state_);
  }

  const T& value() const& {
    check();
    return std::get<0>(state_);
  }

  T&& value() && {
    check();
    return std::get<0>(std::move(state_));
  }

  T& operator*() & {
    return value();
  }

  const T& operator*() const& {
    return value();
  }

  T* operator->() {
    return &value();
  }

  const T* operator->() const {
    return &value();
  }

  const Error& error() const {
    if (ok())
      throw std::logic_error("Result::error() called on a value");
    return std::get<1>(state_);
  }

 private:
  void check() const {
    if (!ok())
      throw std::logic_error("Result::value() called on an error: "
                             + std::get<1>(state_).to_string());
  }

  std::variant<T, Error> state_;
};

/// Success or an `Error`, for operations without a value.
template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;

  Result(Error error) : error_(std::move(error)) {}

  bool ok() const noexcept {
    return error_.code() == ErrorCode::none;
  }

  explicit operator bool() const noexcept {
    return ok();
  }

  const Error& error() const noexcept {
    return error_;
  }

 private:
  Error error_;
};

} // namespace tasker::core
