#include "store/sqlite/history_codec.h"

#include <array>
#include <bit>
#include <cmath>
#include <cstring>

#include <fmt/format.h>

namespace cityroom::store::sqlite {
namespace {

constexpr std::uint8_t kFormat = 1;  // first byte of every blob (bump on a new layout)
constexpr int kMaxDecimals = 9;
constexpr std::array<double, kMaxDecimals + 1> kPow10 = {1e0, 1e1, 1e2, 1e3, 1e4,
                                                          1e5, 1e6, 1e7, 1e8, 1e9};

std::uint64_t zigzag(std::int64_t v) {
  return (static_cast<std::uint64_t>(v) << 1) ^ static_cast<std::uint64_t>(v >> 63);
}
std::int64_t unzigzag(std::uint64_t u) {
  return static_cast<std::int64_t>((u >> 1) ^ (~(u & 1) + 1));
}

void put_varint(std::string& out, std::uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

// Differences wrap modulo 2^64 so that any two int64 have one; decoding adds them back the
// same way.
std::int64_t wrap_sub(std::int64_t a, std::int64_t b) {
  return static_cast<std::int64_t>(static_cast<std::uint64_t>(a) - static_cast<std::uint64_t>(b));
}
std::int64_t wrap_add(std::int64_t a, std::int64_t b) {
  return static_cast<std::int64_t>(static_cast<std::uint64_t>(a) + static_cast<std::uint64_t>(b));
}

// A sequence as its `order`-th differences (1: deltas, 2: delta-of-delta), zero runs folded.
void put_sequence(std::string& out, const std::vector<std::int64_t>& v, int order) {
  if (v.empty()) return;
  put_varint(out, zigzag(v[0]));
  std::int64_t prev = v[0], prev_delta = 0;
  std::uint64_t zeros = 0;
  for (std::size_t i = 1; i < v.size(); ++i) {
    const std::int64_t delta = wrap_sub(v[i], prev);
    const std::int64_t diff = order == 2 ? wrap_sub(delta, prev_delta) : delta;
    prev = v[i];
    prev_delta = delta;
    if (diff == 0) {
      ++zeros;
      continue;
    }
    if (zeros > 0) {
      put_varint(out, 0);
      put_varint(out, zeros);
      zeros = 0;
    }
    put_varint(out, zigzag(diff));
  }
  if (zeros > 0) {
    put_varint(out, 0);
    put_varint(out, zeros);
  }
}

void put_runs(std::string& out, const std::vector<std::int64_t>& v) {
  for (std::size_t i = 0; i < v.size();) {
    std::size_t j = i + 1;
    while (j < v.size() && v[j] == v[i]) ++j;
    put_varint(out, zigzag(v[i]));
    put_varint(out, j - i);
    i = j;
  }
}

class BitWriter {
 public:
  explicit BitWriter(std::string& out) : out_(out) {}
  void put(std::uint64_t bits, int count) {  // count ≤ 64, most significant first
    for (int i = count - 1; i >= 0; --i) {
      acc_ = static_cast<std::uint8_t>((acc_ << 1) | ((bits >> i) & 1));
      if (++used_ == 8) {
        out_.push_back(static_cast<char>(acc_));
        acc_ = 0;
        used_ = 0;
      }
    }
  }
  void flush() {
    if (used_ > 0) out_.push_back(static_cast<char>(acc_ << (8 - used_)));
    used_ = 0;
  }

 private:
  std::string& out_;
  std::uint8_t acc_ = 0;
  int used_ = 0;
};

// Gorilla: the XOR with the previous value; 0 → "0"; inside the previous window → "10" + the
// window's bits; else "11" + 6 bits of leading zeros + 6 bits of (length - 1) + the bits.
void put_xor(std::string& out, const std::vector<double>& v) {
  BitWriter w(out);
  std::uint64_t prev = 0;
  int lead = -1, len = 0;
  for (std::size_t i = 0; i < v.size(); ++i) {
    const auto bits = std::bit_cast<std::uint64_t>(v[i]);
    if (i == 0) {
      w.put(bits, 64);
      prev = bits;
      continue;
    }
    const std::uint64_t x = bits ^ prev;
    prev = bits;
    if (x == 0) {
      w.put(0, 1);
      continue;
    }
    const int l = std::countl_zero(x), t = std::countr_zero(x);
    if (lead >= 0 && l >= lead && t >= 64 - lead - len) {
      w.put(2, 2);
      w.put(x >> (64 - lead - len), len);
      continue;
    }
    lead = l;
    len = 64 - l - t;
    w.put(3, 2);
    w.put(static_cast<std::uint64_t>(lead), 6);
    w.put(static_cast<std::uint64_t>(len - 1), 6);
    w.put(x >> t, len);
  }
  w.flush();
}

// The smallest d such that every value is exactly m / 10^d (m an integer below 2^53).
std::optional<int> decimals_of(const std::vector<double>& v) {
  for (int d = 0; d <= kMaxDecimals; ++d) {
    bool ok = true;
    for (double x : v) {
      if (!std::isfinite(x)) return std::nullopt;
      const double scaled = x * kPow10[d];
      if (!(std::fabs(scaled) < 9007199254740992.0)) return std::nullopt;
      // through the integer the blob keeps (-0.0 would come back as +0.0)
      const auto m = static_cast<std::int64_t>(std::nearbyint(scaled));
      const double back = static_cast<double>(m) / kPow10[d];
      if (std::bit_cast<std::uint64_t>(back) != std::bit_cast<std::uint64_t>(x)) {
        ok = false;
        break;
      }
    }
    if (ok) return d;
  }
  return std::nullopt;
}

// ---- decoding -----------------------------------------------------------------------------

base::Error damaged(std::string_view what) {
  return {base::ErrorKind::kInternalError, fmt::format("a history chunk is damaged ({})", what)};
}

struct Reader {
  std::string_view b;
  std::size_t pos = 0;
  bool bad = false;

  std::uint64_t varint() {
    std::uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (pos >= b.size()) {
        bad = true;
        return 0;
      }
      const auto byte = static_cast<std::uint8_t>(b[pos++]);
      v |= static_cast<std::uint64_t>(byte & 0x7f) << shift;
      if (!(byte & 0x80)) return v;
    }
    bad = true;
    return 0;
  }
  std::string_view bytes(std::size_t n) {
    if (n > b.size() - pos) {
      bad = true;
      return {};
    }
    auto s = b.substr(pos, n);
    pos += n;
    return s;
  }
};

void get_sequence(Reader& r, std::size_t n, int order, std::vector<std::int64_t>& out) {
  out.resize(n);
  if (n == 0) return;
  out[0] = unzigzag(r.varint());
  std::int64_t delta = 0;
  for (std::size_t i = 1; i < n && !r.bad;) {
    const std::uint64_t token = r.varint();
    std::uint64_t count = 1;
    std::int64_t diff = 0;
    if (token == 0) {
      count = r.varint();
      if (count == 0 || count > n - i) {
        r.bad = true;
        return;
      }
    } else {
      diff = unzigzag(token);
    }
    for (std::uint64_t c = 0; c < count; ++c, ++i) {
      delta = order == 2 ? wrap_add(delta, diff) : diff;
      out[i] = wrap_add(out[i - 1], delta);
    }
  }
}

void get_runs(Reader& r, std::size_t n, std::vector<std::int64_t>& out) {
  out.clear();
  out.reserve(n);
  while (out.size() < n && !r.bad) {
    const std::int64_t v = unzigzag(r.varint());
    const std::uint64_t len = r.varint();
    if (len == 0 || len > n - out.size()) {
      r.bad = true;
      return;
    }
    out.insert(out.end(), len, v);
  }
}

class BitReader {
 public:
  BitReader(Reader& r) : r_(r) {}
  std::uint64_t get(int count) {
    std::uint64_t v = 0;
    for (int i = 0; i < count; ++i) {
      if (used_ == 0) {
        if (r_.pos >= r_.b.size()) {
          r_.bad = true;
          return 0;
        }
        acc_ = static_cast<std::uint8_t>(r_.b[r_.pos++]);
        used_ = 8;
      }
      v = (v << 1) | ((acc_ >> 7) & 1);
      acc_ = static_cast<std::uint8_t>(acc_ << 1);
      --used_;
    }
    return v;
  }

 private:
  Reader& r_;
  std::uint8_t acc_ = 0;
  int used_ = 0;
};

void get_xor(Reader& r, std::size_t n, std::vector<double>& out) {
  out.resize(n);
  BitReader br(r);
  std::uint64_t prev = 0;
  int lead = 0, len = 0;
  for (std::size_t i = 0; i < n && !r.bad; ++i) {
    if (i == 0) {
      prev = br.get(64);
    } else if (br.get(1) != 0) {
      if (br.get(1) != 0) {
        lead = static_cast<int>(br.get(6));
        len = static_cast<int>(br.get(6)) + 1;
        if (lead + len > 64) {
          r.bad = true;
          return;
        }
      } else if (len == 0) {
        r.bad = true;
        return;
      }
      prev ^= br.get(len) << (64 - lead - len);
    }
    out[i] = std::bit_cast<double>(prev);
  }
}

// The columns of a blob; texts and extras only when `full`.
struct Columns {
  std::vector<std::int64_t> t, iid, ds, k, tag, ints;
  std::vector<double> doubles;
  std::vector<std::string_view> dict;
  std::vector<std::uint64_t> text_index;
  std::vector<std::int64_t> has_x;
  std::vector<std::string_view> xs;
};

base::Result<std::size_t> get_columns(std::string_view blob, Columns& c, bool full) {
  Reader r{blob};
  if (blob.empty() || static_cast<std::uint8_t>(blob[0]) != kFormat) return std::unexpected(damaged("format"));
  r.pos = 1;
  const std::uint64_t n64 = r.varint();
  if (r.bad || n64 > (1u << 20)) return std::unexpected(damaged("count"));
  const auto n = static_cast<std::size_t>(n64);
  get_sequence(r, n, 2, c.t);
  get_sequence(r, n, 1, c.iid);
  for (std::size_t i = 0; i < n && !r.bad; ++i) c.iid[i] = wrap_add(c.iid[i], c.t[i]);
  get_runs(r, n, c.k);
  get_runs(r, n, c.ds);
  get_runs(r, n, c.tag);
  std::size_t n_int = 0, n_double = 0, n_text = 0;
  for (std::int64_t tag : c.tag) {
    n_int += tag == 1;
    n_double += tag == 2;
    n_text += tag == 3;
  }
  get_sequence(r, n_int, 1, c.ints);
  c.doubles.clear();
  if (n_double > 0 && !r.bad) {
    const std::uint64_t mode = r.varint();
    if (mode <= kMaxDecimals) {
      std::vector<std::int64_t> m;
      get_sequence(r, n_double, 1, m);
      c.doubles.resize(n_double);
      for (std::size_t i = 0; i < n_double; ++i) {
        c.doubles[i] = static_cast<double>(m[i]) / kPow10[mode];
      }
    } else if (mode == kMaxDecimals + 1) {
      get_xor(r, n_double, c.doubles);
    } else {
      r.bad = true;
    }
  }
  if (n_text > 0 && !r.bad) {
    const std::uint64_t dict_size = r.varint();
    if (dict_size > n_text) return std::unexpected(damaged("dictionary"));
    c.dict.clear();
    for (std::uint64_t i = 0; i < dict_size && !r.bad; ++i) c.dict.push_back(r.bytes(r.varint()));
    c.text_index.resize(n_text);
    for (std::size_t i = 0; i < n_text && !r.bad; ++i) {
      c.text_index[i] = r.varint();
      if (c.text_index[i] >= dict_size) r.bad = true;
    }
  }
  get_runs(r, n, c.has_x);
  if (full) {
    c.xs.clear();
    for (std::int64_t h : c.has_x) {
      if (h && !r.bad) c.xs.push_back(r.bytes(r.varint()));
    }
  }
  if (r.bad) return std::unexpected(damaged("truncated"));
  return n;
}

}  // namespace

void encode_points(const std::vector<StoredPoint>& points, std::string& out) {
  out.clear();
  out.push_back(static_cast<char>(kFormat));
  put_varint(out, points.size());
  std::vector<std::int64_t> col;
  col.reserve(points.size());
  for (const auto& p : points) col.push_back(p.t);
  put_sequence(out, col, 2);
  col.clear();
  for (const auto& p : points) col.push_back(wrap_sub(p.iid, p.t));
  put_sequence(out, col, 1);
  col.clear();
  for (const auto& p : points) col.push_back(p.k);
  put_runs(out, col);
  col.clear();
  for (const auto& p : points) col.push_back(p.ds);
  put_runs(out, col);
  col.clear();
  for (const auto& p : points) col.push_back(static_cast<std::int64_t>(p.tag));
  put_runs(out, col);
  col.clear();
  std::vector<double> doubles;
  std::vector<std::string_view> texts;
  for (const auto& p : points) {
    if (p.tag == StoredPoint::Tag::kInt) col.push_back(p.i);
    if (p.tag == StoredPoint::Tag::kDouble) doubles.push_back(p.d);
    if (p.tag == StoredPoint::Tag::kText) texts.push_back(p.text);
  }
  put_sequence(out, col, 1);
  if (!doubles.empty()) {
    if (const auto d = decimals_of(doubles)) {
      put_varint(out, static_cast<std::uint64_t>(*d));
      col.clear();
      for (double x : doubles) col.push_back(static_cast<std::int64_t>(std::nearbyint(x * kPow10[*d])));
      put_sequence(out, col, 1);
    } else {
      put_varint(out, kMaxDecimals + 1);
      put_xor(out, doubles);
    }
  }
  if (!texts.empty()) {
    std::vector<std::string_view> dict;
    std::vector<std::uint64_t> index;
    for (std::string_view s : texts) {
      std::size_t i = 0;
      // chunks hold few distinct texts (states, names): a linear look-up is enough; many
      // distinct texts only cost time proportional to the chunk squared, bounded by its size
      while (i < dict.size() && dict[i] != s) ++i;
      if (i == dict.size()) dict.push_back(s);
      index.push_back(i);
    }
    put_varint(out, dict.size());
    for (std::string_view s : dict) {
      put_varint(out, s.size());
      out.append(s);
    }
    for (std::uint64_t i : index) put_varint(out, i);
  }
  col.clear();
  for (const auto& p : points) col.push_back(p.x ? 1 : 0);
  put_runs(out, col);
  for (const auto& p : points) {
    if (!p.x) continue;
    put_varint(out, p.x->size());
    out.append(*p.x);
  }
}

base::Result<std::vector<StoredPoint>> decode_points(std::string_view blob) {
  Columns c;
  auto n = get_columns(blob, c, true);
  if (!n) return std::unexpected(n.error());
  std::vector<StoredPoint> out(*n);
  std::size_t ii = 0, di = 0, ti = 0, xi = 0;
  for (std::size_t i = 0; i < *n; ++i) {
    StoredPoint& p = out[i];
    p.t = c.t[i];
    p.iid = c.iid[i];
    p.k = c.k[i];
    p.ds = c.ds[i];
    p.tag = static_cast<StoredPoint::Tag>(c.tag[i]);
    switch (p.tag) {
      case StoredPoint::Tag::kInt: p.i = c.ints[ii++]; break;
      case StoredPoint::Tag::kDouble: p.d = c.doubles[di++]; break;
      case StoredPoint::Tag::kText: p.text = c.dict[c.text_index[ti++]]; break;
      case StoredPoint::Tag::kNone: break;
      default: return std::unexpected(damaged("tag"));
    }
    if (c.has_x[i]) p.x = std::string(c.xs[xi++]);
  }
  return out;
}

base::Result<void> decode_numeric(std::string_view blob, NumericColumns& out) {
  Columns c;
  auto n = get_columns(blob, c, false);
  if (!n) return std::unexpected(n.error());
  out.t = std::move(c.t);
  out.iid = std::move(c.iid);
  out.value.resize(*n);
  out.is_number.resize(*n);
  out.tag.resize(*n);
  std::size_t ii = 0, di = 0;
  for (std::size_t i = 0; i < *n; ++i) {
    const auto tag = c.tag[i];
    out.tag[i] = static_cast<std::uint8_t>(tag);
    if (tag == 1) {
      out.value[i] = static_cast<double>(c.ints[ii++]);
      out.is_number[i] = 1;
    } else if (tag == 2) {
      out.value[i] = c.doubles[di++];
      out.is_number[i] = 1;
    } else {
      out.value[i] = std::nan("");
      out.is_number[i] = 0;
    }
  }
  return {};
}

}  // namespace cityroom::store::sqlite
