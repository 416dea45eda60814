// The serial link: 115200 8N1, interrupt driven both ways. Received bytes wait in a ring for the main loop;
// lines to send go into a transmit ring whole or not at all.
#ifndef RIGBOX_UART_H
#define RIGBOX_UART_H

#include <stdint.h>

void uart_init(void);
/** Takes one received byte; returns 0 when none is waiting. */
uint8_t uart_read(char *c);
/** True when a received byte waits (call with interrupts off before sleeping). */
uint8_t uart_waiting(void);
/** Queues `len` bytes if they all fit; returns 0 (queues nothing) otherwise. */
uint8_t uart_send(const char *s, uint8_t len);
/** Bytes queued and not yet handed to the UART. */
uint8_t uart_queued(void);
/** Received bytes dropped because the main loop fell behind. */
uint16_t uart_rx_lost(void);

#endif
