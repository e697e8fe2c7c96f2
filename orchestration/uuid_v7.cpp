#include "orchestration/uuid_v7.hpp"

#include <array>
#include <cstdint>
#include <random>

namespace tasker::orchestration {

std::string new_uuid_v7(std::chrono::system_clock::time_point now) {
  thread_local std::mt19937_64 random{std::random_device{}()};
  auto millis = static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(
          now.time_since_epoch())
          .count());
  uint64_t high = random();
  uint64_t low = random();
  std::array<uint8_t, 16> bytes{};
  for (int i = 0; i < 6; ++i)
    bytes[i] = static_cast<uint8_t>(millis >> (40 - 8 * i));
  for (int i = 6; i < 8; ++i)
    bytes[i] = static_cast<uint8_t>(high >> (8 * i));
  for (int i = 8; i < 16; ++i)
    bytes[i] = static_cast<uint8_t>(low >> (8 * (i - 8)));
  bytes[6] = static_cast<uint8_t>(0x70 | (bytes[6] & 0x0F)); // version 7
  bytes[8] = static_cast<uint8_t>(0x80 | (bytes[8] & 0x3F)); // variant 10
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(36);
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10)
      out.push_back('-');
    out.push_back(kHex[bytes[i] >> 4]);
    out.push_back(kHex[bytes[i] & 0x0F]);
  }
  return out;
}

} // namespace tasker::orchestration
