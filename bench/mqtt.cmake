# mqtt_ingest_bench: MQTT → ingest → store messages/s (fields mode, QoS 1), beside the broker
# alone and the hub alone. mqtt_fanout_latency: Mosquitto QoS 0 fan-out latency, the reference
# for live streams. Both need a running Mosquitto; bench/mqtt_bench.py starts one.
add_executable(mqtt_ingest_bench ${CMAKE_CURRENT_LIST_DIR}/mqtt_ingest_bench.cpp)
target_link_libraries(mqtt_ingest_bench PRIVATE cityroom_ingest)
target_compile_definitions(mqtt_ingest_bench PRIVATE CITYROOM_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
add_executable(mqtt_fanout_latency ${CMAKE_CURRENT_LIST_DIR}/mqtt_fanout_latency.cpp)
target_link_libraries(mqtt_fanout_latency PRIVATE PkgConfig::MOSQUITTO Threads::Threads)
