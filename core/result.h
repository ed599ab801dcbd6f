#pragma once
// Errors are values on expected paths (Envoy style): Result<T> carries a value or an Error.
// std::expected is C++23; this is the small subset tend needs.
#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace tend {

struct Error {
  std::string message;
  // A terminal error is not retried by the workqueue (bad config, conflict); it stays visible.
  bool terminal = false;
};

template <class T>
class Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT(google-explicit-constructor)
  Result(Error err) : v_(std::move(err)) {}  // NOLINT(google-explicit-constructor)
  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() { return value(); }
  const T& operator*() const { return value(); }
  const Error& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, Error> v_;
};

template <>
class Result<void> {
 public:
  Result() = default;
  Result(Error err) : err_(std::move(err)) {}  // NOLINT(google-explicit-constructor)
  bool ok() const { return !err_.has_value(); }
  explicit operator bool() const { return ok(); }
  const Error& error() const { return *err_; }

 private:
  std::optional<Error> err_;
};

inline Error makeError(std::string msg, bool terminal = false) { return Error{std::move(msg), terminal}; }

}  // namespace tend
