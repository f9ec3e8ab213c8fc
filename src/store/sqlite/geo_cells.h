// A quadtree over lon/lat, used to index GeoProperty bounding boxes inside the ordinary value
// index (an R*Tree insert costs ~13 µs in SQLite 3.40, a B-tree row ~1.5 µs).
//
// Coordinates are quantised to kCellLevelMax bits per axis (~0.6 m). A box is indexed by the
// smallest cell containing it. A cell id is the cell's Morton prefix followed by a 1 bit and
// zeros (as S2 does), so every descendant of a cell has an id within [range_min, range_max] of
// that cell and ids order like the cells. A query box is covered by a few cells at one level;
// a stored box can intersect it only if its cell is one of those, a descendant of one (a
// range), or an ancestor of one (point lookups). Quantisation is monotone, so the candidates
// are a superset of the boxes that intersect.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "geo/geo.h"

struct sqlite3;

namespace cityroom::store::sqlite {

inline constexpr int kCellLevelMax = 26;
inline constexpr std::size_t kCoverCellsMax = 16;

using CellId = std::uint64_t;

CellId cell_of(const geo::Box& box);

// Big-endian bytes: as a BLOB they sort like the ids.
std::array<char, 8> cell_bytes(CellId id);

struct CellRange {
  CellId min, max;  // inclusive; min == max for a single cell
};

// The id ranges whose stored boxes may intersect `box`, sorted and merged.
std::vector<CellRange> cover(const geo::Box& box);

// The lon/lat box of a cell (a superset of every box indexed under it).
geo::Box box_of(CellId id);

// Registers the SQL function cell_meets(v, min_lon, min_lat, max_lon, max_lat): 1 when the cell
// stored in blob `v` may hold a box meeting the query box. It lets SQLite drop the cover's
// candidates that lie outside the query box before it joins them with their entities.
int register_cell_functions(::sqlite3* db);

}  // namespace cityroom::store::sqlite
