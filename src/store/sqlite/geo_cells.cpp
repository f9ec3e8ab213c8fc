#include "store/sqlite/geo_cells.h"

#include <algorithm>
#include <bit>
#include <cmath>

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

}  // namespace cityroom::store::sqlite
