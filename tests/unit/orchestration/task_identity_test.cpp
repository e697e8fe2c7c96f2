#include "orchestration/task_identity.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <optional>
#include <string>

using tasker::orchestration::sha256_hex;
using tasker::orchestration::task_identity_hash;
using json = nlohmann::json;

namespace {

bool is_hex64(const std::string& s) {
  return s.size() == 64 && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

} // namespace

TEST_CASE("sha256_hex matches the FIPS 180-2 test vectors") {
  CHECK(sha256_hex("")
        == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(sha256_hex("abc")
        == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")
        == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  CHECK(sha256_hex(std::string(1000000, 'a'))
        == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST_CASE("sha256_hex hashes embedded zero bytes") {
  CHECK(sha256_hex(std::string("a\0b", 3)) != sha256_hex("ab"));
}

TEST_CASE("a task identity is 64 lowercase hex characters") {
  CHECK(is_hex64(
      task_identity_hash("ns", "task", "1.0.0", json::object(), std::nullopt)));
  CHECK(is_hex64(
      task_identity_hash("ns", "task", "1.0.0", json::object(), "order-17")));
  CHECK(is_hex64(task_identity_hash("", "", "", nullptr, std::nullopt)));
}

TEST_CASE("a task identity does not depend on the order of context keys") {
  const auto a = json::parse(R"({"b": 1, "a": {"y": [1, 2], "x": null}})");
  const auto b = json::parse(R"({"a": {"x": null, "y": [1, 2]}, "b": 1})");
  CHECK(task_identity_hash("ns", "task", "1", a, std::nullopt)
        == task_identity_hash("ns", "task", "1", b, std::nullopt));
  const auto c = json::parse(R"({"a": {"x": null, "y": [2, 1]}, "b": 1})");
  CHECK(task_identity_hash("ns", "task", "1", a, std::nullopt)
        != task_identity_hash("ns", "task", "1", c, std::nullopt));
}

TEST_CASE("with an idempotency key the context does not count") {
  const json one = {{"n", 1}};
  const json two = {{"n", 2}};
  CHECK(task_identity_hash("ns", "task", "1", one, "k-1")
        == task_identity_hash("ns", "task", "1", two, "k-1"));
  CHECK(task_identity_hash("ns", "task", "1", one, "k-1")
        != task_identity_hash("ns", "task", "1", one, "k-2"));
  CHECK(task_identity_hash("ns", "task", "1", one, "k-1")
        != task_identity_hash("ns", "task", "1", one, std::nullopt));
  // A key that spells the context still differs from the context.
  CHECK(task_identity_hash("ns", "task", "1", one, one.dump())
        != task_identity_hash("ns", "task", "1", one, std::nullopt));
  CHECK(task_identity_hash("ns", "task", "1", one, "")
        != task_identity_hash("ns", "task", "1", json(""), std::nullopt));
}

TEST_CASE("namespace, name and version each count") {
  const json context = {{"n", 1}};
  const auto base = task_identity_hash("ns", "task", "1", context, "k");
  CHECK(base != task_identity_hash("ns2", "task", "1", context, "k"));
  CHECK(base != task_identity_hash("ns", "task2", "1", context, "k"));
  CHECK(base != task_identity_hash("ns", "task", "2", context, "k"));
}

TEST_CASE("moving characters between fields changes the identity") {
  const json context = json::object();
  CHECK(task_identity_hash("ab", "c", "1", context, std::nullopt)
        != task_identity_hash("a", "bc", "1", context, std::nullopt));
  CHECK(task_identity_hash("ns", "ab", "c", context, "k")
        != task_identity_hash("ns", "a", "bc", context, "k"));
  CHECK(task_identity_hash("ns", "t", "1:", context, "k")
        != task_identity_hash("ns", "t", "1", context, ":k"));
}
