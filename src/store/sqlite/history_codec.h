// history_codec: packs the points of one history series (a chunk, store/sqlite/history.h) into
// one compressed blob and back. Lossless: every point comes back bit for bit (NaN payloads,
// ±inf, -0.0, extreme times), in the order given.
//
// Columns, each over all points of the chunk:
//   times      delta-of-delta, zig-zag varints, runs of zero as (0, run length): a regular
//              series costs a few bytes per chunk
//   instances  (iid - t) as deltas, same run encoding: instance numbers written with their
//              observation time (imports, regular feeds) cost nothing
//   kind, ds   (value, run length) pairs
//   value tags (value, run length): none / integer / double / text
//   integers   zig-zag varint deltas
//   doubles    "decimal" when every double is exactly m / 10^d for one d ≤ 9 (a sensor with
//              one decimal): the m as zig-zag varint deltas; otherwise Gorilla XOR of the bits
//   texts      a dictionary of the distinct texts, then an index per text point
//   extras     presence runs, then the JSON text of each present one (members beyond the value)
// Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/base.h"

namespace cityroom::store::sqlite {

// One stored point: the columns of a history head row (history.h).
struct StoredPoint {
  enum class Tag : std::uint8_t { kNone = 0, kInt = 1, kDouble = 2, kText = 3 };
  std::int64_t t = 0;
  std::int64_t iid = 0;
  std::int64_t ds = 0;
  std::int64_t k = 0;
  Tag tag = Tag::kNone;
  std::int64_t i = 0;    // kInt
  double d = 0;          // kDouble
  std::string text;      // kText
  std::optional<std::string> x;  // other members as JSON

  bool is_number() const { return tag == Tag::kInt || tag == Tag::kDouble; }
  double number() const { return tag == Tag::kInt ? static_cast<double>(i) : d; }
};

void encode_points(const std::vector<StoredPoint>& points, std::string& out);
// BadRequest-free: a malformed blob is an InternalError (the database is damaged).
base::Result<std::vector<StoredPoint>> decode_points(std::string_view blob);

// Only the times and numbers (for aggregation): `numbers` gets NaN for a point that is not a
// number, `is_number` tells which. Avoids building texts and extras.
struct NumericColumns {
  std::vector<std::int64_t> t, iid;
  std::vector<double> value;
  std::vector<std::uint8_t> is_number;
  std::vector<std::uint8_t> tag;
};
base::Result<void> decode_numeric(std::string_view blob, NumericColumns& out);

}  // namespace cityroom::store::sqlite
