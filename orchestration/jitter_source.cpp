#include "orchestration/jitter_source.hpp"

namespace tasker::orchestration {

JitterSource::JitterSource(uint64_t seed) : engine_(seed) {}

double JitterSource::next() {
  // The top 53 bits scaled by 2^-53 are exact in a double and always below
  // 1, unlike std::uniform_real_distribution, whose output differs between
  // standard libraries and can round up to 1.
  return static_cast<double>(engine_() >> 11) * 0x1.0p-53;
}

} // namespace tasker::orchestration
