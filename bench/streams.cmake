# streams_bench: screen-stream fan-out (200 clients, fake sinks) at fixed change rates.
add_executable(streams_bench ${CMAKE_CURRENT_LIST_DIR}/streams_bench.cpp)
target_link_libraries(streams_bench PRIVATE cityroom_live Threads::Threads)
