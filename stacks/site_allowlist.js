// CloudFront Function (cloudfront-js-2.0), viewer request: only viewers whose IP address
// lies in one of the allow-listed ranges reach the reports; everyone else gets 403.
// stacks/site.py fills in RANGES as [[family, firstHex, lastHex], ...]: every address
// is written as fixed-width lowercase hex (8 digits for IPv4, 32 for IPv6), so "is inside
// the range" is two string comparisons.
var RANGES = __RANGES__;

function pad(text, width) {
  while (text.length < width) {
    text = '0' + text;
  }
  return text;
}

function ipv4Hex(ip) {
  var parts = ip.split('.');
  if (parts.length !== 4) {
    return null;
  }
  var out = '';
  for (var i = 0; i < 4; i++) {
    if (!/^[0-9]{1,3}$/.test(parts[i])) {
      return null;
    }
    var n = parseInt(parts[i], 10);
    if (n > 255) {
      return null;
    }
    out += pad(n.toString(16), 2);
  }
  return out;
}

function ipv6Hex(ip) {
  var text = ip.toLowerCase();
  var zone = text.indexOf('%');
  if (zone >= 0) {
    text = text.substring(0, zone);
  }
  var lastColon = text.lastIndexOf(':');
  if (text.indexOf('.', lastColon) > lastColon) {
    // an embedded IPv4 tail (e.g. ::ffff:192.0.2.1) becomes two hex groups
    var tail = ipv4Hex(text.substring(lastColon + 1));
    if (tail === null) {
      return null;
    }
    text = text.substring(0, lastColon + 1) + tail.substring(0, 4) + ':' + tail.substring(4);
  }
  var halves = text.split('::');
  if (halves.length > 2) {
    return null;
  }
  var head = halves[0] ? halves[0].split(':') : [];
  var rest = halves.length === 2 && halves[1] ? halves[1].split(':') : [];
  var missing = 8 - head.length - rest.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) {
    return null;
  }
  var groups = head;
  for (var i = 0; i < missing; i++) {
    groups = groups.concat(['0']);
  }
  groups = groups.concat(rest);
  var out = '';
  for (var j = 0; j < groups.length; j++) {
    if (!/^[0-9a-f]{1,4}$/.test(groups[j])) {
      return null;
    }
    out += pad(groups[j], 4);
  }
  return out;
}

function allowed(ip) {
  var family = ip.indexOf(':') >= 0 ? 6 : 4;
  var key = family === 6 ? ipv6Hex(ip) : ipv4Hex(ip);
  if (key === null) {
    return false;
  }
  for (var i = 0; i < RANGES.length; i++) {
    var range = RANGES[i];
    if (range[0] === family && key >= range[1] && key <= range[2]) {
      return true;
    }
  }
  return false;
}

function handler(event) {
  if (allowed(event.viewer.ip)) {
    return event.request;
  }
  return {
    statusCode: 403,
    statusDescription: 'Forbidden',
    headers: { 'cache-control': { value: 'no-store' } },
  };
}
