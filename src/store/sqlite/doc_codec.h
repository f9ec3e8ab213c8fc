// The stored form of an entity: a compact binary encoding of a JSON value, lossless (doubles
// keep every bit: Boost 1.81's text parser may round the last digit, so JSON text would not
// round-trip) and cheaper to write and read than JSON text (no number formatting or parsing,
// no escaping).
//
// Layout: a format byte (kDocFormat), then one value. A value is a tag byte followed by:
//   null/false/true: nothing; int64: zigzag varint; uint64: varint; double: 8 bytes
//   little-endian; string: varint length + UTF-8 bytes; array: varint count + values;
//   object: varint count + (varint key length + key bytes + value) per member, in order.
#pragma once

#include <string>
#include <string_view>

#include "base/base.h"
#include "json/json.h"

namespace cityroom::store::sqlite {

inline constexpr unsigned char kDocFormat = 1;
inline constexpr std::size_t kDocDepthMax = 64;  // as json::kDepthMax

// Appends the encoding of `o` to `out` (cleared first).
void encode_doc(const json::object& o, std::string& out);

// InternalError "stored entity is corrupt: ..." on malformed input.
base::Result<json::object> decode_doc(std::string_view bytes);

}  // namespace cityroom::store::sqlite
