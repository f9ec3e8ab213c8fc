#include "store/sqlite/doc_codec.h"

#include <fmt/format.h>

#include <bit>
#include <cstring>

namespace cityroom::store::sqlite {

namespace {

enum Tag : unsigned char {
  kNull = 0,
  kFalse = 1,
  kTrue = 2,
  kInt64 = 3,
  kUint64 = 4,
  kDouble = 5,
  kString = 6,
  kArray = 7,
  kObject = 8,
};

static_assert(std::endian::native == std::endian::little, "doubles are stored little-endian");

void put_varint(std::uint64_t v, std::string& out) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

void put_bytes(std::string_view s, std::string& out) {
  put_varint(s.size(), out);
  out.append(s);
}

void put_value(const json::value& v, std::string& out);

void put_object(const json::object& o, std::string& out) {
  out.push_back(static_cast<char>(kObject));
  put_varint(o.size(), out);
  for (const auto& member : o) {
    put_bytes(member.key(), out);
    put_value(member.value(), out);
  }
}

void put_value(const json::value& v, std::string& out) {
  switch (v.kind()) {
    case boost::json::kind::null:
      out.push_back(static_cast<char>(kNull));
      return;
    case boost::json::kind::bool_:
      out.push_back(static_cast<char>(v.get_bool() ? kTrue : kFalse));
      return;
    case boost::json::kind::int64: {
      const auto i = static_cast<std::uint64_t>(v.get_int64());
      out.push_back(static_cast<char>(kInt64));
      put_varint((i << 1) ^ (v.get_int64() < 0 ? ~std::uint64_t{0} : 0), out);
      return;
    }
    case boost::json::kind::uint64:
      out.push_back(static_cast<char>(kUint64));
      put_varint(v.get_uint64(), out);
      return;
    case boost::json::kind::double_: {
      const double d = v.get_double();
      char bytes[sizeof d];
      std::memcpy(bytes, &d, sizeof bytes);
      out.push_back(static_cast<char>(kDouble));
      out.append(bytes, sizeof bytes);
      return;
    }
    case boost::json::kind::string:
      out.push_back(static_cast<char>(kString));
      put_bytes(v.get_string(), out);
      return;
    case boost::json::kind::array:
      out.push_back(static_cast<char>(kArray));
      put_varint(v.get_array().size(), out);
      for (const json::value& item : v.get_array()) put_value(item, out);
      return;
    case boost::json::kind::object:
      put_object(v.get_object(), out);
      return;
  }
}

// A bounds-checked reader; any malformed input sets `bad` and yields empty values.
class Reader {
 public:
  explicit Reader(std::string_view in) : p_(in.data()), end_(in.data() + in.size()) {}
  bool bad() const { return bad_; }
  bool at_end() const { return p_ == end_; }

  unsigned char byte() {
    if (p_ == end_) return fail(), 0;
    return static_cast<unsigned char>(*p_++);
  }
  std::uint64_t varint() {
    std::uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      const unsigned char b = byte();
      v |= static_cast<std::uint64_t>(b & 0x7f) << shift;
      if (!(b & 0x80)) return v;
    }
    return fail(), 0;
  }
  std::string_view bytes(std::uint64_t n) {
    if (n > static_cast<std::uint64_t>(end_ - p_)) return fail(), std::string_view("", 0);
    std::string_view s(p_, n);
    p_ += n;
    return s;
  }
  // A count of items that each take at least one byte: larger than the rest is corrupt.
  std::uint64_t count() {
    const std::uint64_t n = varint();
    if (n > static_cast<std::uint64_t>(end_ - p_)) return fail(), 0;
    return n;
  }
  void fail() {
    bad_ = true;
    p_ = end_;
  }

 private:
  const char* p_;
  const char* end_;
  bool bad_ = false;
};

json::value read_value(Reader& r, std::size_t depth);

json::value read_array(Reader& r, std::size_t depth) {
  const std::uint64_t n = r.count();
  json::array a;
  a.reserve(n);
  for (std::uint64_t i = 0; i < n && !r.bad(); ++i) a.push_back(read_value(r, depth + 1));
  return a;
}

json::value read_object(Reader& r, std::size_t depth) {
  const std::uint64_t n = r.count();
  json::object o(n);
  for (std::uint64_t i = 0; i < n && !r.bad(); ++i) {
    const std::string_view key = r.bytes(r.varint());
    o.insert_or_assign(key, read_value(r, depth + 1));
  }
  return o;
}

json::value read_value(Reader& r, std::size_t depth) {
  if (depth > kDocDepthMax) return r.fail(), json::value();
  switch (r.byte()) {
    case kNull:
      return nullptr;
    case kFalse:
      return false;
    case kTrue:
      return true;
    case kInt64: {
      const std::uint64_t z = r.varint();
      return static_cast<std::int64_t>((z >> 1) ^ (~(z & 1) + 1));
    }
    case kUint64:
      return r.varint();
    case kDouble: {
      const std::string_view b = r.bytes(sizeof(double));
      double d = 0;
      if (b.size() == sizeof d) std::memcpy(&d, b.data(), sizeof d);
      return d;
    }
    case kString:
      return json::value(r.bytes(r.varint()));
    case kArray:
      return read_array(r, depth);
    case kObject:
      return read_object(r, depth);
    default:
      return r.fail(), json::value();
  }
}

}  // namespace

void encode_doc(const json::object& o, std::string& out) {
  out.clear();
  out.push_back(static_cast<char>(kDocFormat));
  put_object(o, out);
}

base::Result<json::object> decode_doc(std::string_view bytes) {
  Reader r(bytes);
  const unsigned char format = r.byte();
  if (format != kDocFormat) {
    return base::fail(base::ErrorKind::kInternalError,
                      fmt::format("stored entity is corrupt: unknown format {}", format));
  }
  json::value v = read_value(r, 0);
  if (r.bad() || !r.at_end() || !v.is_object()) {
    return base::fail(base::ErrorKind::kInternalError,
                      "stored entity is corrupt: malformed encoding");
  }
  return std::move(v.get_object());
}

}  // namespace cityroom::store::sqlite
