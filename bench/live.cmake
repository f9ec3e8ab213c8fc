# live_latency: the live path end to end against a running `cityroom serve` (screens over
# WebSocket, notifications to an in-process sink, ingest with or without subscriptions);
# bench/live_bench.py runs it beside Mosquitto's fan-out. Links cityroom_http only for the
# separately compiled Asio/Beast sources.
add_executable(live_latency ${CMAKE_CURRENT_LIST_DIR}/live_latency.cpp)
target_link_libraries(live_latency PRIVATE cityroom_http Threads::Threads)
