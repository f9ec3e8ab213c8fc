# notify_sink: the notification receiver the delivery and live-path benchmarks post to, and
# notify_sink_bench: delivery::Deliverer throughput to it (with an optional blackholed peer).
# notify_sink links cityroom_http only for the separately compiled Asio/Beast sources.
add_executable(notify_sink ${CMAKE_CURRENT_LIST_DIR}/notify_sink.cpp)
target_link_libraries(notify_sink PRIVATE cityroom_http CLI11::CLI11 Threads::Threads)
add_executable(notify_sink_bench ${CMAKE_CURRENT_LIST_DIR}/notify_sink_bench.cpp)
target_link_libraries(notify_sink_bench PRIVATE cityroom_delivery CLI11::CLI11)
