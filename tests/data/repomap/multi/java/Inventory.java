package shop;

import java.util.ArrayList;
import java.util.List;

public class Inventory {
  private final List<String> items = new ArrayList<>();

  public Inventory() {}

  public void addItem(String item) {
    items.add(item);
  }

  interface Listener {
    void onAdded(String item);
  }
}
