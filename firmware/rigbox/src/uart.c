#include "uart.h"

#include <avr/interrupt.h>
#include <avr/io.h>
#include <util/atomic.h>

#include "protocol.h"
// 115200 from 16 MHz is 117647 baud (U2X, UBRR 16): +2.1 %, as every Arduino Uno runs it (its USB bridge
// uses the same divider); allow 3 %.
#define BAUD_TOL 3
#include <util/setbaud.h>

#define RX_SIZE 256  // powers of two, at most 256
#define TX_SIZE 256

static volatile char rx[RX_SIZE];
static volatile uint8_t rx_head, rx_tail;
static volatile uint16_t rx_lost;
static volatile char tx[TX_SIZE];
static volatile uint8_t tx_head, tx_tail;

void uart_init(void) {
  // U2X before the divider: simavr (1.6) works out the byte time when UBRR is written, with the U2X it finds
  // then (the order makes no difference on the chip).
#if USE_2X
  UCSR0A = _BV(U2X0);
#else
  UCSR0A = 0;
#endif
  UBRR0H = UBRRH_VALUE;
  UBRR0L = UBRRL_VALUE;
  UCSR0C = _BV(UCSZ01) | _BV(UCSZ00);  // 8N1
  UCSR0B = _BV(RXEN0) | _BV(TXEN0) | _BV(RXCIE0);
}

ISR(USART_RX_vect) {
  char c = UDR0;
  uint8_t next = (uint8_t)(rx_head + 1);  // RX_SIZE is 256: the index wraps by itself
  if (next == rx_tail) {
    rx_lost++;
    return;
  }
  rx[rx_head] = c;
  rx_head = next;
}

ISR(USART_UDRE_vect) {
  if (tx_tail == tx_head) {
    UCSR0B &= (uint8_t)~_BV(UDRIE0);
    return;
  }
  UDR0 = tx[tx_tail];
  tx_tail = (uint8_t)(tx_tail + 1);  // TX_SIZE is 256: the index wraps by itself
}

// Single producer, single consumer: the receive interrupt only moves rx_head and the main loop only rx_tail
// (and the other way round for tx), and one-byte indices are read and written whole, so neither side turns
// interrupts off while copying (a long copy would delay the strobe and tick interrupts).
uint8_t uart_read(char *c) {
  uint8_t t = rx_tail;
  if (t == rx_head) return 0;
  *c = rx[t];
  rx_tail = (uint8_t)(t + 1);
  return 1;
}

uint8_t uart_waiting(void) { return rx_tail != rx_head; }

uint8_t uart_queued(void) { return (uint8_t)(tx_head - tx_tail); }

uint8_t uart_send(const char *s, uint8_t len) {
  uint8_t h = tx_head;
  if ((uint16_t)(uint8_t)(h - tx_tail) + len >= TX_SIZE) return 0;
  for (uint8_t i = 0; i < len; i++) tx[(uint8_t)(h + i)] = s[i];
  tx_head = (uint8_t)(h + len);
  ATOMIC_BLOCK(ATOMIC_RESTORESTATE) { UCSR0B |= _BV(UDRIE0); }
  return 1;
}

uint16_t uart_rx_lost(void) {
  uint16_t n;
  ATOMIC_BLOCK(ATOMIC_RESTORESTATE) { n = rx_lost; }
  return n;
}
