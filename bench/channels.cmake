# cityroom_channels_bench: WebSocket server-push latency and CPU (200 clients on loopback).
# One standalone program, not a Google Benchmark: it measures a process with threads, not a loop.
add_executable(cityroom_channels_bench ${CMAKE_CURRENT_LIST_DIR}/channels_bench.cpp)
target_link_libraries(cityroom_channels_bench PRIVATE cityroom_http Threads::Threads)
