#include "store/sqlite/geo_cells.h"

#include <algorithm>
#include <bit>
#include <cmath>

#include <sqlite3.h>

namespace cityroom::store::sqlite {

namespace {

constexpr std::uint64_t kAxisCells = std::uint64_t{1} << kCellLevelMax;

std::uint64_t quantise(double v, double lo, double span) {
  const double q = std::floor((v - lo) / span * static_cast<double>(kAxisCells));
  if (!(q >= 0)) return 0;  // also NaN
  return std::min(static_cast<std::uint64_t>(q), kAxisCells - 1);
}

std::uint64_t spread(std::uint64_t v) {  // bit i → bit 2i
  v &= 0xffffffff;
  v = (v | (v << 16)) & 0x0000ffff0000ffffULL;
  v = (v | (v << 8)) & 0x00ff00ff00ff00ffULL;
  v = (v | (v << 4)) & 0x0f0f0f0f0f0f0f0fULL;
  v = (v | (v << 2)) & 0x3333333333333333ULL;
  v = (v | (v << 1)) & 0x5555555555555555ULL;
  return v;
}

// Id of the level-`level` cell at (x, y) in that level's grid.
CellId id_of(std::uint64_t x, std::uint64_t y, int level) {
  const std::uint64_t morton = spread(x) | (spread(y) << 1);
  return ((morton << 1) | 1) << (2 * (kCellLevelMax - level));
}

std::uint64_t lsb(CellId id) {
  return id & (~id + 1);
}

struct Quantised {
  std::uint64_t x0, y0, x1, y1;
};

Quantised quantise(const geo::Box& b) {
  return {quantise(b.min_lon, -180, 360), quantise(b.min_lat, -90, 180),
          quantise(b.max_lon, -180, 360), quantise(b.max_lat, -90, 180)};
}

CellId parent(CellId id) {
  const std::uint64_t step = lsb(id) << 2;  // the parent's marker bit
  return (id & ~(step * 2 - 1)) | step;
}

}  // namespace

CellId cell_of(const geo::Box& box) {
  const Quantised q = quantise(box);
  const int differ = std::max(std::bit_width(q.x0 ^ q.x1), std::bit_width(q.y0 ^ q.y1));
  const int level = kCellLevelMax - differ;
  return id_of(q.x0 >> differ, q.y0 >> differ, level);
}

std::array<char, 8> cell_bytes(CellId id) {
  std::array<char, 8> out;
  for (int i = 7; i >= 0; --i, id >>= 8)
    out[static_cast<std::size_t>(i)] = static_cast<char>(id & 0xff);
  return out;
}

std::vector<CellRange> cover(const geo::Box& box) {
  const Quantised q = quantise(box);
  int shift = 0;  // level = kCellLevelMax - shift
  auto cells = [&](int s) {
    return ((q.x1 >> s) - (q.x0 >> s) + 1) * ((q.y1 >> s) - (q.y0 >> s) + 1);
  };
  while (shift < kCellLevelMax && cells(shift) > kCoverCellsMax) ++shift;
  const int level = kCellLevelMax - shift;
  std::vector<CellRange> ranges;
  std::vector<CellId> ancestors;
  for (std::uint64_t x = q.x0 >> shift; x <= q.x1 >> shift; ++x) {
    for (std::uint64_t y = q.y0 >> shift; y <= q.y1 >> shift; ++y) {
      const CellId id = id_of(x, y, level);
      ranges.push_back({id - lsb(id) + 1, id + lsb(id) - 1});
      for (CellId a = id; lsb(a) < (std::uint64_t{1} << (2 * kCellLevelMax));) {
        a = parent(a);
        ancestors.push_back(a);
      }
    }
  }
  for (CellId a : ancestors) ranges.push_back({a, a});
  std::sort(ranges.begin(), ranges.end(), [](auto& a, auto& b) { return a.min < b.min; });
  std::vector<CellRange> merged;
  for (const CellRange& r : ranges) {
    if (!merged.empty() && r.min <= merged.back().max + 1) {
      merged.back().max = std::max(merged.back().max, r.max);
    } else {
      merged.push_back(r);
    }
  }
  return merged;
}

namespace {

std::uint64_t compact(std::uint64_t v) {  // bit 2i → bit i (inverse of spread)
  v &= 0x5555555555555555ULL;
  v = (v | (v >> 1)) & 0x3333333333333333ULL;
  v = (v | (v >> 2)) & 0x0f0f0f0f0f0f0f0fULL;
  v = (v | (v >> 4)) & 0x00ff00ff00ff00ffULL;
  v = (v | (v >> 8)) & 0x0000ffff0000ffffULL;
  v = (v | (v >> 16)) & 0x00000000ffffffffULL;
  return v;
}

void cell_meets(sqlite3_context* ctx, int argc, sqlite3_value** argv) {
  const auto* bytes = static_cast<const unsigned char*>(sqlite3_value_blob(argv[0]));
  if (argc != 5 || sqlite3_value_type(argv[0]) != SQLITE_BLOB ||
      sqlite3_value_bytes(argv[0]) != 8 || !bytes) {
    sqlite3_result_int(ctx, 1);  // not a cell: let the exact filter decide
    return;
  }
  CellId id = 0;
  for (int i = 0; i < 8; ++i) id = (id << 8) | bytes[i];
  const geo::Box c = box_of(id);
  const double min_lon = sqlite3_value_double(argv[1]), min_lat = sqlite3_value_double(argv[2]);
  const double max_lon = sqlite3_value_double(argv[3]), max_lat = sqlite3_value_double(argv[4]);
  const bool meets = c.min_lon <= max_lon && c.max_lon >= min_lon && c.min_lat <= max_lat &&
                     c.max_lat >= min_lat;
  sqlite3_result_int(ctx, meets ? 1 : 0);
}

}  // namespace

geo::Box box_of(CellId id) {
  if (id == 0) return {-180, -90, 180, 90};
  const int trailing = std::countr_zero(id);      // 2 * (kCellLevelMax - level)
  const int level = kCellLevelMax - trailing / 2;
  const std::uint64_t morton = id >> (trailing + 1);
  const std::uint64_t x = compact(morton), y = compact(morton >> 1);
  const double cells = std::ldexp(1.0, level);
  // Quantisation floors, so a cell covers [x, x+1) of its grid; widen by one fine cell for
  // the clamping at the upper edge.
  const double fine = std::ldexp(1.0, -kCellLevelMax);
  return {-180 + 360 * (static_cast<double>(x) / cells - fine),
          -90 + 180 * (static_cast<double>(y) / cells - fine),
          -180 + 360 * (static_cast<double>(x + 1) / cells + fine),
          -90 + 180 * (static_cast<double>(y + 1) / cells + fine)};
}

int register_cell_functions(sqlite3* db) {
  return sqlite3_create_function_v2(db, "cell_meets", 5,
                                    SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_INNOCUOUS,
                                    nullptr, cell_meets, nullptr, nullptr, nullptr);
}

}  // namespace cityroom::store::sqlite
