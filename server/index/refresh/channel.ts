/** A bounded queue between two stages of the indexing pipeline. */

/** put() waits while the queue is full; take() waits while it is empty and open. */
export class Channel<T> {
  private readonly items: T[] = [];
  private readonly putters: (() => void)[] = [];
  private readonly takers: (() => void)[] = [];
  private closed = false;
  constructor(private readonly capacity: number) {}

  async put(item: T): Promise<void> {
    while (this.items.length >= this.capacity && !this.closed) await new Promise<void>((r) => this.putters.push(r));
    this.items.push(item);
    this.takers.shift()?.();
  }
  async take(): Promise<T | undefined> {
    while (this.items.length === 0) {
      if (this.closed) return undefined;
      await new Promise<void>((r) => this.takers.push(r));
    }
    const item = this.items.shift()!;
    this.putters.shift()?.();
    return item;
  }
  close(): void {
    this.closed = true;
    for (const w of this.takers.splice(0)) w();
    for (const w of this.putters.splice(0)) w();
  }
}
