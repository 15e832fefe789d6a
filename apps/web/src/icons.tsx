/** Icons drawn inline (no icon font, no emoji: a machine without an emoji font shows those as boxes). */
export function Lock({ title = "end-to-end encrypted" }: { title?: string }) {
  return (
    <svg class="icon lock" viewBox="0 0 16 16" width="14" height="14" role="img" aria-label={title}>
      <title>{title}</title>
      <path fill="currentColor" d="M4 7V5a4 4 0 1 1 8 0v2h1v8H3V7h1zm2 0h4V5a2 2 0 1 0-4 0v2z" />
    </svg>
  );
}

export function Folder() {
  return (
    <svg class="icon" viewBox="0 0 16 16" width="16" height="16" aria-hidden="true">
      <path fill="currentColor" d="M1 3h5l2 2h7v9H1z" />
    </svg>
  );
}
