// The host's commands (docs/rig-box.md): each line is parsed, carried out, and answered with ACK, PONG, HELLO
// or ERR. EVT is acknowledged when its word has gone out (main loop, event_word_done).
#ifndef RIGBOX_COMMANDS_H
#define RIGBOX_COMMANDS_H

#include <stdint.h>

/** Handles one received line (without its newline; modified in place). */
void commands_handle(char *line);
/** Sends the HELLO line (at reset and on the host's HELLO). */
void commands_hello(void);
/** Acknowledges an EVT whose word went out, with the box time of its first strobe. */
void commands_event_sent(uint16_t code, uint32_t ms);
/** Sends the current FIX and PD states (once known) with the current box time. */
void commands_state(void);
/** EYE line period in ms (0: off), set by STREAM. */
uint16_t commands_stream_ms(void);

#endif
