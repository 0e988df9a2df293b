import { formatPrice, PriceBook } from "./util";

export interface Cart {
  items: string[];
}

export type CartId = string;

export enum Currency {
  Usd,
  Eur,
}

export class CartView {
  render(cart: Cart): string {
    return cart.items.map((i) => formatPrice(new PriceBook().lookup(i))).join(",");
  }
}

export function emptyCart(): Cart {
  return { items: [] };
}
