// The KMA Lambert conformal grid, against known offices and the KMA table of grid cells per
// administrative code (its points are dong offices; we test with dong polygon centroids).
#include <gtest/gtest.h>

#include <cmath>
#include <map>

#include "common.h"
#include "connectors/connectors.h"

namespace cityroom::connectors {
namespace {

TEST(KmaGrid, KnownPoints) {
  EXPECT_EQ(kma_grid(37.5172, 127.0473), (GridPoint{61, 126}));  // Gangnam-gu office
  EXPECT_EQ(kma_grid(37.6688, 127.0471), (GridPoint{61, 129}));  // Dobong-gu office
  EXPECT_EQ(kma_grid(37.5635, 126.9800), (GridPoint{60, 127}));  // Seoul City Hall
  EXPECT_EQ(kma_grid(38.0, 126.0), (GridPoint{43, 136}));        // the grid's origin
}

// Vertex mean of the largest ring of a (Multi)Polygon: inside a compact dong.
std::pair<double, double> centre(const json::value& geometry) {
  const auto& type = geometry.at("type").as_string();
  const json::array* ring = nullptr;
  std::size_t best = 0;
  auto consider = [&](const json::array& polygon) {
    const auto& r = polygon.at(0).as_array();
    if (r.size() > best) {
      best = r.size();
      ring = &r;
    }
  };
  if (type == "Polygon") {
    consider(geometry.at("coordinates").as_array());
  } else {
    for (const auto& p : geometry.at("coordinates").as_array()) consider(p.as_array());
  }
  double lon = 0, lat = 0;
  for (const auto& pt : *ring) {
    lon += pt.as_array()[0].to_number<double>();
    lat += pt.as_array()[1].to_number<double>();
  }
  return {lat / ring->size(), lon / ring->size()};
}

TEST(KmaGrid, MatchesTheKmaTableForSeoulDongs) {
  const auto csv = testing::read(testing::repo() / "data/demo/kma_grid_by_admcode.csv");
  ASSERT_FALSE(csv.empty());
  std::map<std::string, GridPoint> table;  // admin code → nx, ny
  std::istringstream lines(csv);
  std::string line;
  std::getline(lines, line);  // code,level1,level2,level3,nx,ny
  while (std::getline(lines, line)) {
    std::vector<std::string> f;
    std::stringstream cells(line);
    for (std::string c; std::getline(cells, c, ',');) f.push_back(c);
    if (f.size() == 6) table[f[0]] = {std::stoi(f[4]), std::stoi(f[5])};
  }
  auto dongs = json::parse(testing::read(testing::repo() / "data/demo/seoul_dong.geojson"));
  ASSERT_TRUE(dongs);
  std::size_t compared = 0, exact = 0;
  for (const auto& f : dongs->at("features").as_array()) {
    const auto code = std::string(f.at("properties").at("adm_cd2").as_string());
    const auto it = table.find(code);
    if (it == table.end()) continue;
    const auto [lat, lon] = centre(f.at("geometry"));
    const auto g = kma_grid(lat, lon);
    ++compared;
    exact += g == it->second;
    // The table's point is the dong office, not the centroid: at most one cell apart.
    EXPECT_LE(std::abs(g.nx - it->second.nx), 1) << code;
    EXPECT_LE(std::abs(g.ny - it->second.ny), 1) << code;
  }
  EXPECT_GT(compared, 400u);
  EXPECT_GT(exact * 100 / compared, 80u) << exact << " of " << compared << " exact";
}

}  // namespace
}  // namespace cityroom::connectors
