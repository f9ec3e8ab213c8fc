// simulator/city: the parts of an imported city the simulator animates, read once from the hub,
// and the road graph ambulances route on.
//
// A City is plain data (tests build one by hand). `load_city` reads it from the hub's entities
// (AdministrativeArea dongs, RoadSegment with `speedHourly`, Bridge, PointOfInterest markets
// and emergency rooms), so any imported city works; what is missing is simply not simulated.
// Stream gauges sit at the imported bridges whose names say which river they cross
// (`river_of`): no gauge is placed anywhere the data does not show a bridge.
#pragma once

#include <array>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "base/base.h"
#include "hub/hub.h"
#include "ldcontext/ldcontext.h"

namespace cityroom::simulator {

struct LonLat {
  double lon = 0;
  double lat = 0;
};

// Metres between two points (equirectangular; fine at city scale).
double distance_m(LonLat a, LonLat b);
// Degrees clockwise from north, going from a to b.
double bearing_deg(LonLat a, LonLat b);

struct Dong {
  std::string id;          // AdministrativeArea id
  std::string name;
  LonLat centre;
  std::vector<std::string> scope;
};

struct Road {
  std::string id;  // RoadSegment id
  std::string name;
  std::vector<LonLat> line;  // the link's geometry, start → end
  std::string start_node, end_node;
  std::array<double, 24> speed_hourly{};  // km/h by local hour; all 0 when unknown
  double free_speed = 0;                  // the highest hourly speed
  int rank = 999;                         // KTDB road rank (101 = expressway ...), for snow removal order
  std::size_t dong = 0;                   // index of the nearest dong (0 when there is none)
  std::vector<std::string> scope;
};

struct Facility {
  enum class Kind { kBridge, kMarket } kind;
  std::string id;  // Bridge or PointOfInterest id
  std::string name;
  LonLat at;
  std::size_t dong = 0;
  std::vector<std::string> scope;
};

// A river-level gauge at a bridge over a river or stream (FloodMonitoring).
struct Gauge {
  std::string id;      // urn:ngsi-ld:FloodMonitoring:<bridge id without urn:ngsi-ld:>
  std::string name;    // the bridge's name
  std::string river;   // Korean river name (탄천, 한강 ...)
  std::string bridge;  // the Bridge id (refFacility)
  LonLat at;
  bool big_river = false;  // the Han: metres higher than a stream in every state
  std::vector<std::string> scope;
};

// The river a bridge crosses and the bridge's name, from the names the road data gives it
// (bridge name, road name, end-node names); nullopt when they do not say. A name holding a
// stream's name says it (탄천2고가교(남단) → 탄천, "탄천2고가교"); otherwise a short table of
// Seoul's known crossings (삼성교 on 올림픽로 → 탄천, 영동대로_영동대교 → 한강, "영동대교").
struct Crossing {
  std::string river;
  std::string bridge;
};
std::optional<Crossing> crossing_of(std::string_view bridge_name, std::string_view road_name,
                                    const std::vector<std::string>& node_names);

struct Hospital {
  std::string id;  // emergency PointOfInterest id
  std::string name;
  LonLat at;
};

struct City {
  std::string name = "city";  // the gu's name for disaster messages
  std::vector<Dong> dongs;
  std::vector<Road> roads;
  std::vector<Facility> facilities;
  std::vector<Hospital> hospitals;
  std::vector<Gauge> gauges;  // one per bridge (both directions' links are one place)

  // The road graph (undirected: links are joined by their KTDB node ids).
  struct Edge {
    std::size_t road;
    std::size_t to;
    bool forward;  // traversed start → end
  };
  std::vector<LonLat> nodes;
  std::vector<std::vector<Edge>> adjacency;

  // Fills nodes/adjacency from roads (call after filling roads by hand).
  void build_graph();
  // The node nearest to a point; nullopt when there are no roads.
  std::optional<std::size_t> nearest_node(LonLat p) const;
  // The dong whose centre is nearest (0 when there is none).
  std::size_t nearest_dong(LonLat p) const;
  // A drivable path from a to b: along the roads when both ends reach the graph and it
  // connects them, else a straight line. Always starts at a and ends at b.
  std::vector<LonLat> route(LonLat a, LonLat b) const;
};

// The expanded type and attribute names of a city's entities: each type keeps the context its
// import used (docs/DATA-MODEL.md), so reads and writes expand with the same one.
class Names {
 public:
  enum class Ctx { kCore, kTransportation, kEnvironment, kWeather, kPointOfInterest };
  static base::Result<Names> open(ldcontext::ContextStore& contexts);
  const std::string& get(Ctx ctx, std::string_view term);

 private:
  std::array<ldcontext::ContextPtr, 5> ctx_;
  std::array<std::unordered_map<std::string, std::string>, 5> cache_;
};

base::Result<City> load_city(hub::Hub& hub, Names& names, std::string_view tenant);

}  // namespace cityroom::simulator
