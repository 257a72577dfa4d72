// The connection banner both pages show: the pill in the header and the notice under it with
// "Try again" or "Sign in again". One copy, so the caller app and the console cannot drift;
// what differs (the pill's word for a live connection, what a drop or a refusal means to the
// person) is the page's to say.
const $ = (id) => document.getElementById(id);

// Refusals only a new sign-in mends: "Try again" would be refused the same way.
const SIGN_IN_AGAIN = new Set(["not-signed-in", "session-ended"]);
const SIGN_IN_TEXT = {
  "not-signed-in": "You are not signed in.",
  "session-ended": "Your sign-in has ended (signed out or deactivated).",
};

/**
 * A function showing a connection status (the SDK's "connection" event) in the banner.
 * @param {object} options
 * @param {{connectionError: ?{id?: string, message?: string}}} options.client the SDK's caller or supervisor
 * @param {string} options.connectedText the pill's word for a live connection
 * @param {string} options.droppedText the notice while reconnecting after a drop
 * @param {Object<string, string>} [options.failedText] what this page's refusals (error ids) mean
 * @param {() => boolean} [options.explained] true when the page already says why it is disconnected
 */
export function connectionBanner({ client, connectedText, droppedText, failedText = {}, explained = () => false }) {
  const labels = {
    connecting: "Connecting…",
    connected: connectedText,
    reconnecting: "Reconnecting…",
    disconnected: "Disconnected",
    failed: "Not connected",
  };
  const refusals = { ...SIGN_IN_TEXT, ...failedText };

  return function showConnection(status, detail) {
    const pill = $("connection");
    pill.className = `connection ${status}`;
    pill.textContent = labels[status] || status;
    const problem = $("connection-problem");
    problem.hidden = status === "connected" || status === "connecting";
    $("reconnect").hidden = status === "reconnecting";
    $("sign-in-again").hidden = true;
    if (status === "reconnecting") {
      $("connection-message").textContent = detail && detail.id ? `${detail.message} Trying again…` : droppedText;
    } else if (status === "disconnected") {
      if (explained()) problem.hidden = true;
      $("connection-message").textContent = "You are disconnected from the server.";
    } else if (status === "failed") {
      const error = client.connectionError || detail || {};
      $("connection-message").textContent = refusals[error.id] || error.message || "Cannot reach the server.";
      if (SIGN_IN_AGAIN.has(error.id)) {
        $("reconnect").hidden = true;
        $("sign-in-again").hidden = false;
      }
    }
  };
}
