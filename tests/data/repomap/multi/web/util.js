export function formatPrice(cents) {
  return `$${(cents / 100).toFixed(2)}`;
}

export class PriceBook {
  lookup(name) {
    return this.prices[name];
  }
}

export const applyDiscount = (cents, percent) => cents - (cents * percent) / 100;
