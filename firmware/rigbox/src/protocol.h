// The serial protocol this firmware speaks (docs/rig-box.md): version 2, announced in the HELLO line.
#ifndef RIGBOX_PROTOCOL_H
#define RIGBOX_PROTOCOL_H

#define PROTOCOL_VERSION 2
#define FIRMWARE_NAME "rigbox/1.0"
#define BAUD 115200

#define SAMPLE_HZ 1000u      // eye and photodiode sampling (Timer1 tick); one sample per box millisecond
#define HEARTBEAT_MS 1000u   // FIX repeats the current state this often
#define STROBE_US 200u       // strobe high and low times of the event word (Timer2: 4 us ticks)
#define REWARD_MAX_MS 10000
#define STREAM_MIN_MS 5      // EYE lines no faster than this (a line is ~35 bytes = 3 ms of the link)
#define STREAM_MAX_MS 1000

#endif
