// Client-side routing on the History API: the server answers index.html for any page path.
export const route = $state({ path: location.pathname, query: new URLSearchParams(location.search) });

export function go(to: string, replace = false) {
  const u = new URL(to, location.origin);
  if (replace) history.replaceState(null, "", u);
  else history.pushState(null, "", u);
  route.path = u.pathname;
  route.query = new URLSearchParams(u.search);
}

addEventListener("popstate", () => {
  route.path = location.pathname;
  route.query = new URLSearchParams(location.search);
});

/** For `<a href onclick={nav}>`: same-page navigation, keeping new-tab clicks. */
export function nav(e: MouseEvent) {
  if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  const a = e.currentTarget as HTMLAnchorElement;
  e.preventDefault();
  go(a.getAttribute("href") ?? "/");
}
